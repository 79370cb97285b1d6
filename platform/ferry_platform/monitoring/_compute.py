"""The monitoring job's computation: a map over the log's files, then one reduce.

``scan`` reads a group of log files and counts what can be counted row by row (requests,
statuses, latencies, nulls, out-of-range values, unseen categories, refused columns) and
keeps a uniform sample of the answered rows; it runs as Ray tasks where the cluster has
room (or in this process without Ray). ``finish`` merges the partial counts, runs the drift
tests on the samples against each release's reference (Evidently, imported there only),
joins the outcomes by request id (model metrics, slices, business value per arm) and
returns the report as plain data. ``canary`` is the same for one check of a rollout.

Everything here takes and returns plain, picklable values: it runs in another process.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ferry_platform.core import predlog as P  # noqa: N812 - the layout's names, short
from ferry_platform.monitoring import _stats as S  # noqa: N812
from ferry_platform.monitoring._reference import MAX_CATEGORIES
from ferry_platform.monitoring._store import read_files, read_outcomes

log = logging.getLogger("ferry.monitoring")

LATENCY_CAP = 200_000
"""Per-request latencies a partial keeps per release and arm (a uniform sample beyond)."""


@dataclass(frozen=True)
class ReleaseSpec:
    release_id: str
    model: str
    version: int
    inputs: tuple[tuple[str, str], ...]
    reference: dict[str, Any] | None = None


@dataclass(frozen=True)
class ReportSpec:
    log_uri: str
    deployment: str
    window: str
    start: datetime
    end: datetime
    releases: tuple[ReleaseSpec, ...]
    thresholds: dict[str, Any]
    max_rows: int = 100_000
    slice_columns: tuple[str, ...] = ()
    metrics_fn: str | None = None  # "module:function" of the evaluation's metric set
    outcome_files: tuple[str, ...] = ()
    seed: int = 0


@dataclass
class ReleasePartial:
    requests: dict[tuple[str, int], int] = field(default_factory=dict)  # (arm, status) -> n
    rows: int = 0
    latency: dict[str, np.ndarray] = field(default_factory=dict)  # arm -> ms per request
    violations: dict[str, dict[str, int]] = field(default_factory=dict)
    fragility: dict[str, S.Fragility] = field(default_factory=dict)
    sample: Any = None  # DataFrame of answered rows (uniform, ≤ max_rows)
    sampled_from: int = 0


def _sample(frame: Any, n: int, seed: int) -> Any:
    return frame if len(frame) <= n else frame.sample(n=n, random_state=seed)


def _reference_sets(ref: dict[str, Any] | None) -> tuple[dict[str, list[float]],
                                                          dict[str, set[str]]]:
    ranges: dict[str, list[float]] = {}
    cats: dict[str, set[str]] = {}
    for name, col in ((ref or {}).get("columns") or {}).items():
        if col.get("kind") == "numeric" and "min" in col:
            ranges[name] = [col["min"], col["max"]]
        elif col.get("kind") == "categorical" and not col.get("open_categories") and \
                "categories" in col and len(col["categories"]) < MAX_CATEGORIES:
            # a list cut short (an open feature, or an older reference's 1,000) would call
            # every value past it unseen: no unseen-category rate for such a feature
            cats[name] = set(col["categories"])
    return ranges, cats


def scan(uri: str, files: Sequence[str], spec: ReportSpec) -> dict[str, ReleasePartial]:
    """Counts and a sample of the answered rows, per release, of ``files``."""
    import pyarrow.compute as pc

    table = read_files(uri, files, deployment=spec.deployment, start=spec.start, end=spec.end)
    out: dict[str, ReleasePartial] = {}
    if not len(table):
        return out
    by_id = {r.release_id: r for r in spec.releases}
    for release_id in pc.unique(table[P.RELEASE_ID]).to_pylist():
        release = by_id.get(release_id)
        if release is None:
            continue
        part = out[release_id] = ReleasePartial()
        frame = table.filter(pc.equal(table[P.RELEASE_ID], release_id)).to_pandas()
        first = frame[frame[P.ROW] == 0]
        for (arm, status), n in first.groupby([P.ARM, P.STATUS]).size().items():
            part.requests[(str(arm), int(status))] = int(n)
        for arm, lat in first.groupby(P.ARM)[P.LATENCY_MS]:
            values = lat.to_numpy(dtype="float32")
            if len(values) > LATENCY_CAP:
                values = np.random.default_rng(spec.seed).choice(values, LATENCY_CAP,
                                                                 replace=False)
            part.latency[str(arm)] = values
        if P.PROBLEMS in first.columns:
            for raw in first[P.PROBLEMS].dropna():
                try:
                    pairs = json.loads(raw)
                except ValueError:
                    continue
                for column, reason in pairs:
                    by_reason = part.violations.setdefault(str(column), {})
                    by_reason[str(reason)] = by_reason.get(str(reason), 0) + 1
        ok = frame[frame[P.STATUS] == 200]
        part.rows = len(ok)
        ranges, cats = _reference_sets(release.reference)
        misses: dict[str, int] = {}
        if P.LOOKUP_MISSES in ok.columns:
            for row in ok[P.LOOKUP_MISSES].dropna():
                for name in row:
                    misses[name] = misses.get(name, 0) + 1
        for name, kind in release.inputs:
            column = P.input_column(name)
            if column not in ok.columns:
                continue
            part.fragility[name] = S.fragility(ok[column], kind, ranges.get(name),
                                               cats.get(name), misses.get(name, 0))
        keep = [c for c in ok.columns if c.startswith(P.INPUT_PREFIX)] + [
            c for c in (P.REQUEST_ID, P.ROW, P.ARM, P.PREDICTION, P.PROBABILITIES, "classes")
            if c in ok.columns]
        part.sample = _sample(ok[keep], spec.max_rows, spec.seed)
        part.sampled_from = len(ok)
    return out


def merge(partials: Sequence[dict[str, ReleasePartial]], max_rows: int,
          seed: int = 0) -> dict[str, ReleasePartial]:
    import pandas as pd

    out: dict[str, ReleasePartial] = {}
    for partial in partials:
        for rid, p in partial.items():
            m = out.setdefault(rid, ReleasePartial())
            for k, v in p.requests.items():
                m.requests[k] = m.requests.get(k, 0) + v
            m.rows += p.rows
            for arm, lat in p.latency.items():
                m.latency[arm] = np.concatenate([m.latency.get(arm, np.empty(0, "float32")),
                                                 lat])
            for col, reasons in p.violations.items():
                into = m.violations.setdefault(col, {})
                for r, n in reasons.items():
                    into[r] = into.get(r, 0) + n
            for col, f in p.fragility.items():
                m.fragility[col] = m.fragility[col].add(f) if col in m.fragility else f
    for rid, m in out.items():
        pieces = [(p[rid].sample, p[rid].sampled_from) for p in partials
                  if rid in p and p[rid].sample is not None and len(p[rid].sample)]
        total = sum(n for _, n in pieces)
        if not pieces:
            continue
        if total <= max_rows:
            m.sample = pd.concat([s for s, _ in pieces], ignore_index=True)
        else:
            m.sample = pd.concat([_sample(s, max(1, round(max_rows * n / total)), seed)
                                  for s, n in pieces], ignore_index=True)
        m.sampled_from = total
    return out


# -- the report --------------------------------------------------------------------------------
def _drift_row(column: str, r: S.DriftResult) -> dict[str, Any]:
    return {"column": column, "method": r.method, "score": r.score, "threshold": r.threshold,
            "drifted": r.drifted, "status": r.status, "rows": r.rows, "message": r.message,
            "p_value": r.p_value}


def _predictions(values: Any) -> list[Any]:
    return [v for v in values if v is not None]


def _is_numeric_prediction(values: Sequence[Any], classes: Sequence[Any] | None) -> bool:
    if classes:
        return False
    present = [v for v in values if v is not None][:200]
    return bool(present) and all(isinstance(v, float) for v in present)


def _positive_proba(frame: Any, classes: list[Any]) -> tuple[Any, str] | None:
    if len(classes) != 2 or P.PROBABILITIES not in frame.columns:
        return None
    probs = frame[P.PROBABILITIES].dropna()
    if not len(probs):
        return None
    return probs.map(lambda p: p[1] if len(p) > 1 else None).dropna(), str(classes[1])


def _classes_of(frame: Any, ref: dict[str, Any] | None) -> list[Any] | None:
    if ref and ref.get("classes"):
        return list(ref["classes"])
    if "classes" in getattr(frame, "columns", []):
        raw = frame["classes"].dropna()
        if len(raw):
            return list(json.loads(raw.iloc[0]))
    return None


def drift_section(sample: Any, release: ReleaseSpec, t: dict[str, Any],
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Per-feature drift and prediction drift of one release's window sample."""
    ref = release.reference
    method, threshold = t.get("drift_method"), t.get("drift_threshold")
    min_rows = int(t.get("min_rows") or 100)
    notes: list[str] = []
    features, predictions = [], []
    if not ref:
        notes.append("no reference was recorded for this release (registered without a "
                     "training sample and no evaluation set): drift is not scored")
        return [], [], notes
    ref_sample = ref.get("sample") or {}
    n_window = 0 if sample is None else len(sample)
    if n_window < min_rows:
        notes.append(f"not enough data: {n_window} answered row(s) in the window, "
                     f"{min_rows} needed to score drift")
    for name, kind in release.inputs:
        column = P.input_column(name)
        if name not in ref_sample:
            features.append(_drift_row(name, S.DriftResult(
                None, None, None, False, "no_reference", 0,
                "the training sample did not hold this column")))
            continue
        current = sample[column] if sample is not None and column in sample.columns else []
        r = S.drift(ref_sample[name], current, kind in S.NUMERIC_TYPES and kind != "boolean",
                    min_rows=min_rows, method=method, threshold=threshold)
        features.append(_drift_row(name, r))
    ref_preds = ref.get("predictions")
    if ref_preds:
        current = _predictions(sample[P.PREDICTION]) if sample is not None and \
            P.PREDICTION in sample.columns else []
        classes = _classes_of(sample, ref)
        numeric = _is_numeric_prediction(ref_preds, classes)
        r = S.drift(ref_preds, current, numeric, min_rows=min_rows, method=method,
                    threshold=threshold)
        predictions.append(_drift_row("prediction", r))
        ref_proba = ref.get("probabilities")
        if classes and len(classes) == 2 and ref_proba and sample is not None:
            pos = _positive_proba(sample, classes)
            if pos is not None:
                values, label = pos
                r = S.drift([p[1] for p in ref_proba], values, True, min_rows=min_rows,
                            method=method, threshold=threshold)
                predictions.append(_drift_row(f"probability({label})", r))
    else:
        notes.append("the reference holds no predictions (a reference from the evaluation "
                     "set): prediction drift is not scored")
    return features, predictions, notes


def _service(p: ReleasePartial) -> dict[str, Any]:
    requests = sum(p.requests.values())
    errors = sum(n for (_, status), n in p.requests.items() if status >= 500)
    rejected = sum(n for (_, status), n in p.requests.items() if 400 <= status < 500)
    status_counts: dict[str, int] = {}
    for (_, status), n in p.requests.items():
        status_counts[str(status)] = status_counts.get(str(status), 0) + n
    lat = np.concatenate(list(p.latency.values())) if p.latency else np.empty(0)
    p50, p95, p99 = S.quantiles(lat)
    return {"requests": requests, "rows": p.rows, "errors": errors,
            "error_rate": errors / requests if requests else None, "rejected": rejected,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "status_counts": status_counts,
            "schema_violations": p.violations}


def _fragility(p: ReleasePartial, ref: dict[str, Any] | None) -> list[dict[str, Any]]:
    cols = (ref or {}).get("columns") or {}
    out = []
    for name, f in p.fragility.items():
        out.append({
            "column": name, "rows": f.rows,
            "null_rate": f.nulls / f.rows if f.rows else 0.0,
            "reference_null_rate": cols.get(name, {}).get("null_rate"),
            "out_of_range_rate": f.out_of_range / f.numeric_rows if f.numeric_rows else
            (0.0 if name in cols and cols[name].get("kind") == "numeric" else None),
            "unseen_category_rate": f.unseen / f.text_rows if f.text_rows else
            (0.0 if name in cols and cols[name].get("kind") == "categorical" else None),
            "unseen_examples": list(f.examples),
            "lookup_miss_rate": f.misses / f.rows if f.rows and f.misses else None})
    return out


def _metrics_fn(path: str | None) -> Any:
    if not path:
        return None
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def find(uri: str, files: Sequence[str], deployment: str,
         request_ids: Sequence[str]) -> list[tuple[str, int, str, str, int]]:
    """(request id, row, release id, arm, status) of the log rows of ``request_ids``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = read_files(uri, files, columns=[P.REQUEST_ID, P.ROW, P.RELEASE_ID, P.ARM,
                                            P.STATUS, P.DEPLOYMENT], deployment=deployment)
    if not len(table):
        return []
    table = table.filter(pc.is_in(table[P.REQUEST_ID],
                                  value_set=pa.array(list(request_ids), pa.string())))
    return list(zip(table[P.REQUEST_ID].to_pylist(), table[P.ROW].to_pylist(),
                    table[P.RELEASE_ID].to_pylist(), table[P.ARM].to_pylist(),
                    table[P.STATUS].to_pylist(), strict=True))


def _labelled(spec: ReportSpec, files: Sequence[str], outcomes: Any,
              slice_columns: Sequence[str]) -> Any:
    """The window's answered log rows that have an outcome, joined with it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if outcomes is None or not len(outcomes):
        return None
    columns = [P.REQUEST_ID, P.ROW, P.RELEASE_ID, P.ARM, P.STATUS, P.PREDICTION,
               P.PROBABILITIES, P.DEPLOYMENT, P.TS, *[P.input_column(c) for c in slice_columns]]
    table = read_files(spec.log_uri, files, columns=columns, deployment=spec.deployment,
                       start=spec.start, end=spec.end)
    if not len(table):
        return None
    ids = pa.array(sorted(set(outcomes["request_id"])), pa.string())
    table = table.filter(pc.and_(pc.is_in(table[P.REQUEST_ID], value_set=ids),
                                 pc.equal(table[P.STATUS], 200)))
    if not len(table):
        return None
    frame = table.to_pandas()
    joined = frame.merge(outcomes[["request_id", "row", "label", "value"]],
                         on=["request_id", "row"], how="inner")
    return joined


def _performance(rows: Any, classes: list[Any] | None, metrics_fn: Any,
                 ) -> dict[str, float | None]:
    """The evaluation's metric set on the window's labelled rows."""
    labelled = rows[rows["label"].notna() & rows[P.PREDICTION].notna()]
    if not len(labelled) or metrics_fn is None:
        return {}
    try:
        if classes:
            proba = None
            if P.PROBABILITIES in labelled.columns and labelled[P.PROBABILITIES].notna().all():
                proba = np.array(labelled[P.PROBABILITIES].tolist(), dtype="float64")
            keys = [S._key(c) for c in classes]
            y = np.asarray([S._key(v) for v in labelled["label"]])
            preds = np.asarray([S._key(v) for v in labelled[P.PREDICTION]])
            return dict(metrics_fn("classification", y, preds, proba, keys))
        y = np.asarray(labelled["label"].tolist(), dtype="float64")
        preds = np.asarray(labelled[P.PREDICTION].tolist(), dtype="float64")
        return dict(metrics_fn("regression", y, preds, None, []))
    except (ValueError, TypeError) as e:  # labels the metrics cannot read: shown, not fatal
        log.warning("model metrics could not be computed: %s", e)
        return {}


def _slices(rows: Any, sample: Any, classes: list[Any] | None, slice_columns: Sequence[str],
            min_rows: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Per-group rates of each slice column and the gaps between groups. Binary
    classifiers (the second class is the positive one): positive rate, TPR, FPR and
    accuracy; classifiers of more classes: accuracy (the others need a positive class)."""
    notes: list[str] = []
    if not slice_columns:
        return [], [], notes
    if not classes or len(classes) < 2:
        notes.append("slice metrics need a classifier (accuracy per group; with two "
                      "classes also positive rate, TPR, FPR)")
        return [], [], notes
    binary = len(classes) == 2
    positive = S._key(classes[1]) if binary else None
    metrics = S.GAP_METRICS if binary else ("accuracy",)
    groups_out, gaps_out = [], []
    for column in slice_columns:
        col = P.input_column(column)
        if sample is None or col not in sample.columns:
            notes.append(f"slice column {column!r} is not an input of the model: not logged")
            continue
        labelled = None
        if rows is not None and col in rows.columns:
            labelled = rows[rows["label"].notna()]
        keys = sample[col].astype(str)
        groups = sorted(set(keys) | (set(labelled[col].astype(str))
                                     if labelled is not None else set()))
        rates = []
        for group in groups:
            answered = sample[keys == group][P.PREDICTION]
            pred_pos = np.array([S._key(v) == positive for v in answered], dtype=bool)
            lab = labelled[labelled[col].astype(str) == group] if labelled is not None \
                else None
            if lab is not None and len(lab):
                truth = [S._key(v) for v in lab["label"]]
                said = [S._key(v) for v in lab[P.PREDICTION]]
                y = np.array([t == positive for t in truth], dtype=bool)
                p = np.array([s == positive for s in said], dtype=bool)
                correct = np.array([t == s for t, s in zip(truth, said, strict=True)])
            else:
                y = p = correct = np.zeros(0, dtype=bool)
            r = S.group_rates(group, pred_pos, y, p, correct)
            rates.append(r)
            groups_out.append({"column": column, "group": r.group, "rows": r.rows,
                               "labelled": r.labelled, "accuracy": r.accuracy,
                               **({"positive_rate": r.positive_rate, "tpr": r.tpr,
                                   "fpr": r.fpr} if binary else
                                  {"positive_rate": None, "tpr": None, "fpr": None})})
        for g in S.gaps(rates, min_rows, metrics):
            gaps_out.append({"column": column, "metric": g.metric, "gap": g.gap,
                             "best": g.best, "worst": g.worst, "significant": g.significant,
                             "z": g.z if g.z is None or math.isfinite(g.z) else 1e9})
    return groups_out, gaps_out, notes


def business_value(rows: Any, releases: dict[str, str]) -> list[dict[str, Any]]:
    """Mean value per arm with its interval; a candidate arm's lift over the stable arm."""
    if rows is None or not len(rows):
        return []
    valued = rows[rows["value"].notna()]
    if not len(valued):
        return []
    per_request = valued.drop_duplicates(["request_id"])
    out = []
    stable_values = None
    for arm in ("stable", "a"):
        part = per_request[per_request[P.ARM] == arm]
        if len(part):
            stable_values = part["value"].to_numpy("float64")
            break
    for (arm, release_id), part in per_request.groupby([P.ARM, P.RELEASE_ID]):
        values = part["value"].to_numpy("float64")
        ci = S.mean_ci(values)
        row: dict[str, Any] = {"arm": str(arm), "release_id": str(release_id), "n": ci.n,
                               "mean": ci.mean, "ci_low": ci.low, "ci_high": ci.high}
        if arm not in ("stable", "a") and stable_values is not None:
            row["lift"], row["lift_ci_low"], row["lift_ci_high"] = S.diff_ci(stable_values,
                                                                            values)
        out.append(row)
    order = {"stable": 0, "a": 0, "canary": 1, "b": 1, "shadow": 2}
    return sorted(out, key=lambda r: (order.get(r["arm"], 3), r["release_id"]))


def finish(partials: Sequence[dict[str, ReleasePartial]], spec: ReportSpec,
           files: Sequence[str]) -> dict[str, Any]:
    """The report (plain data, the shape of ``MonitoringReportPublic`` minus its alerts)."""
    merged = merge(partials, spec.max_rows, spec.seed)
    outcomes = read_outcomes(spec.log_uri, spec.outcome_files) if spec.outcome_files else None
    slice_columns = list(spec.slice_columns)
    labelled = _labelled(spec, files, outcomes, slice_columns)
    metrics_fn = _metrics_fn(spec.metrics_fn)
    t = spec.thresholds
    releases = []
    for release in spec.releases:
        p = merged.get(release.release_id)
        if p is None:
            continue
        features, predictions, notes = drift_section(p.sample, release, t)
        classes = _classes_of(p.sample, release.reference)
        rows = labelled[labelled[P.RELEASE_ID] == release.release_id] \
            if labelled is not None else None
        performance = _performance(rows, classes, metrics_fn) if rows is not None else {}
        groups, gaps, slice_notes = _slices(rows, p.sample, classes, slice_columns,
                                            int(t.get("min_slice_rows") or 30))
        releases.append({
            "release_id": release.release_id, "model": release.model,
            "version": release.version, "arms": sorted({a for a, _ in p.requests}),
            "rows": p.rows, "service": _service(p), "reference": bool(release.reference),
            "drift": features, "prediction_drift": predictions,
            "fragility": _fragility(p, release.reference),
            "labelled": int(rows["label"].notna().sum()) if rows is not None else 0,
            "metrics": performance, "slices": groups, "slice_gaps": gaps,
            "notes": notes + slice_notes})
    return {"releases": releases,
            "business_value": business_value(labelled, {})}


# -- canary analysis ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CanarySpec:
    log_uri: str
    deployment: str
    stable: ReleaseSpec
    candidate: ReleaseSpec
    since: datetime
    end: datetime
    files: tuple[str, ...]
    outcome_files: tuple[str, ...]
    config: dict[str, Any]
    max_rows: int = 50_000


def canary(spec: CanarySpec) -> dict[str, Any]:
    """One check of a candidate against the stable arm since ``since``: the numbers, and
    whether it passed, failed (with the reasons) or has too few requests to say."""
    import pyarrow.compute as pc

    cfg = spec.config
    table = read_files(spec.log_uri, spec.files,
                       columns=[P.REQUEST_ID, P.ROW, P.RELEASE_ID, P.ARM, P.STATUS,
                                P.LATENCY_MS, P.PREDICTION, P.DEPLOYMENT, P.TS],
                       deployment=spec.deployment, start=spec.since, end=spec.end)
    arms: dict[str, dict[str, Any]] = {}
    samples: dict[str, Any] = {}
    for side, release in (("stable", spec.stable), ("candidate", spec.candidate)):
        part = table.filter(pc.equal(table[P.RELEASE_ID], release.release_id)).to_pandas() \
            if len(table) else None
        if part is None or not len(part):
            arms[side] = {"release_id": release.release_id, "requests": 0, "errors": 0,
                          "error_rate": None, "p99_ms": None}
            continue
        first = part[part[P.ROW] == 0]
        errors = int((first[P.STATUS] >= 500).sum())
        (p99,) = S.quantiles(first[P.LATENCY_MS], (0.99,))
        arms[side] = {"release_id": release.release_id, "requests": len(first),
                      "errors": errors, "error_rate": errors / len(first),
                      "p99_ms": p99}
        samples[side] = _sample(part[part[P.STATUS] == 200][P.PREDICTION], spec.max_rows, 0)
    cand, stable = arms["candidate"], arms["stable"]
    result: dict[str, Any] = {"stable": stable, "candidate": cand, "checks": [],
                              "since": spec.since.isoformat()}
    if cand["requests"] < int(cfg.get("min_requests", 100)):
        result["verdict"] = "insufficient"
        result["reason"] = (f"{cand['requests']} request(s) of the candidate since its "
                            f"weight changed; {cfg.get('min_requests', 100)} needed")
        return result
    failed = []
    checks = result["checks"]
    max_error = float(cfg.get("max_error_rate", 0.02))
    ok = cand["error_rate"] <= max_error
    checks.append({"name": "error_rate", "value": cand["error_rate"], "threshold": max_error,
                   "stable": stable["error_rate"], "passed": ok})
    if not ok:
        failed.append(f"error rate {cand['error_rate']:.3f} > {max_error}")
    if cfg.get("max_p99_ms") is not None and cand["p99_ms"] is not None:
        limit = float(cfg["max_p99_ms"])
        ok = cand["p99_ms"] <= limit
        checks.append({"name": "p99_ms", "value": cand["p99_ms"], "threshold": limit,
                       "stable": stable["p99_ms"], "passed": ok})
        if not ok:
            failed.append(f"p99 {cand['p99_ms']:.1f} ms > {limit} ms")
    if cfg.get("max_prediction_drift") is not None and "stable" in samples \
            and "candidate" in samples:
        numeric = _is_numeric_prediction(list(samples["stable"]), None)
        r = S.drift(samples["stable"], samples["candidate"], numeric, min_rows=1,
                    threshold=float(cfg["max_prediction_drift"]))
        checks.append({"name": "prediction_drift", "value": r.score, "method": r.method,
                       "threshold": r.threshold, "passed": not r.drifted})
        if r.drifted:
            failed.append(f"predictions drifted from the stable arm's ({r.method} "
                          f"{r.score:.3f})")
    if cfg.get("business_value", True) and spec.outcome_files:
        outcomes = read_outcomes(spec.log_uri, spec.outcome_files)
        valued = outcomes[outcomes["value"].notna()]
        a = valued[valued["release_id"] == spec.stable.release_id]["value"]
        b = valued[valued["release_id"] == spec.candidate.release_id]["value"]
        if len(a) >= 2 and len(b) >= 2:
            diff, low, high = S.diff_ci(a, b)
            ok = high is None or high >= 0
            checks.append({"name": "business_value", "value": diff, "ci_low": low,
                           "ci_high": high, "stable_n": len(a), "candidate_n": len(b),
                           "passed": ok})
            if not ok:
                failed.append(f"business value lower than the stable arm's by "
                              f"{-(diff or 0.0):.3f} (95% interval {low:.3f} to {high:.3f})")
    result["verdict"] = "failed" if failed else "passed"
    result["reason"] = "; ".join(failed)
    return result
