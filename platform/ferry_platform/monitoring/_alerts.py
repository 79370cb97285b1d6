"""Which alert conditions a report shows, against a deployment's thresholds.

A condition is ``(kind, subject, release)``: ``drift`` of a feature, ``prediction_drift``,
``null_rate`` / ``out_of_range`` / ``unseen_category`` of a feature, ``slice_gap`` of a
slice column's metric, ``error_rate``, ``p99``, ``skew`` of a served feature. Besides the
conditions that hold, :func:`evaluate` returns every condition the report could judge
(enough data), so that an open alert whose condition was judged and no longer holds is
resolved, while one the window could not judge stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Key = tuple[str, str, str]  # kind, subject, release id

ALERTED_GAPS = ("tpr", "fpr", "accuracy")
"""Slice metrics that raise alerts. Gaps in the positive rate are reported, not alerted:
groups may differ in their base rate for good reasons; a model that breaks for a group
shows in its labelled metrics."""


@dataclass(frozen=True)
class Condition:
    kind: str
    subject: str
    release_id: str
    value: float | None
    threshold: float | None
    message: str

    @property
    def key(self) -> Key:
        return (self.kind, self.subject, self.release_id)


def evaluate(report: dict[str, Any], t: dict[str, Any]) -> tuple[list[Condition], set[Key]]:
    """(conditions that hold, keys of every condition the report could judge)."""
    firing: list[Condition] = []
    judged: set[Key] = set()
    min_rows = int(t.get("min_rows") or 100)

    def check(kind: str, subject: str, rid: str, value: float | None, limit: float | None,
              holds: bool, message: str) -> None:
        judged.add((kind, subject, rid))
        if holds:
            firing.append(Condition(kind, subject, rid, value, limit, message))

    for rel in report.get("releases", []):
        rid = rel["release_id"]
        for kind, items in (("drift", rel.get("drift", [])),
                            ("prediction_drift", rel.get("prediction_drift", []))):
            for d in items:
                if d.get("status") != "ok":
                    continue
                check(kind, d["column"], rid, d.get("score"), d.get("threshold"),
                      bool(d.get("drifted")),
                      f"{d['column']} drifted in {rid}: {d.get('method')} "
                      f"{_num(d.get('score'))} (threshold {_num(d.get('threshold'))}) over "
                      f"{d.get('rows')} rows")
        for f in rel.get("fragility", []):
            if f.get("rows", 0) < min_rows:
                continue
            col = f["column"]
            base = f.get("reference_null_rate") or 0.0
            limit = float(t.get("null_rate_max", 0.05))
            excess = f["null_rate"] - base
            check("null_rate", col, rid, f["null_rate"], base + limit, excess > limit,
                  f"{col} is null in {f['null_rate']:.1%} of {rid}'s rows "
                  f"(training: {base:.1%}; allowed {limit:.1%} more)")
            if f.get("out_of_range_rate") is not None:
                limit = float(t.get("out_of_range_max", 0.05))
                rate = f["out_of_range_rate"]
                check("out_of_range", col, rid, rate, limit, rate > limit,
                      f"{col} is outside its training range in {rate:.1%} of {rid}'s rows "
                      f"(allowed {limit:.1%})")
            if f.get("unseen_category_rate") is not None:
                limit = float(t.get("unseen_category_max", 0.05))
                rate = f["unseen_category_rate"]
                shown = ", ".join(repr(x) for x in f.get("unseen_examples", [])[:3])
                check("unseen_category", col, rid, rate, limit, rate > limit,
                      f"{col} holds categories the training data lacked in {rate:.1%} of "
                      f"{rid}'s rows ({shown}; allowed {limit:.1%})")
        gap_max = float(t.get("slice_gap_max", 0.1))
        for g in rel.get("slice_gaps", []):
            if g["metric"] not in ALERTED_GAPS:
                continue
            check("slice_gap", f"{g['column']}:{g['metric']}", rid, g["gap"], gap_max,
                  g["gap"] > gap_max and bool(g.get("significant")),
                  f"{g['metric']} of {rid} differs by {g['gap']:.3f} between {g['column']}="
                  f"{g['best']!r} and {g['column']}={g['worst']!r} (allowed {gap_max})")
        service = rel.get("service", {})
        if service.get("requests", 0) >= min_rows:
            if t.get("error_rate_max") is not None and service.get("error_rate") is not None:
                limit = float(t["error_rate_max"])
                rate = service["error_rate"]
                check("error_rate", "requests", rid, rate, limit, rate > limit,
                      f"{rate:.1%} of {rid}'s requests failed (allowed {limit:.1%})")
            if t.get("p99_ms_max") is not None and service.get("p99_ms") is not None:
                limit = float(t["p99_ms_max"])
                p99 = service["p99_ms"]
                check("p99", "latency", rid, p99, limit, p99 > limit,
                      f"p99 latency of {rid} is {p99:.1f} ms (allowed {limit} ms)")
        skew_max = float(t.get("skew_max", 0.05))
        for k in rel.get("skew", []):
            if not k.get("compared") or k.get("mismatch_rate") is None:
                continue
            check("skew", k["column"], rid, k["mismatch_rate"], skew_max,
                  k["mismatch_rate"] > skew_max,
                  f"{k['column']}: {k['mismatch_rate']:.1%} of the values {rid} was served "
                  f"differ from the offline store's (allowed {skew_max:.1%})")
    return firing, judged


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"
