"""A release's reference: what its production traffic is compared with.

Built once, when the release is built, from the training rows sampled with its model
version (or, for a version registered without them, its model's evaluation set), and kept
beside the release forever (:class:`~ferry_platform.monitoring._store.ReferenceStore`).
Per feature: its type, null rate, range, quantiles and a histogram (numbers) or
frequencies (categories); the model's answers on the same rows (the prediction
distribution); and the sampled rows themselves, which the drift tests use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ferry_contract import ReferenceSample

REFERENCE_FORMAT = 1
MAX_CATEGORIES = 1000
"""Values of a text feature a reference lists. A feature with more (an id, a zip code) is
"open": its list would be a cut-off sample of it, and every value past the cut would look
unseen, so no unseen-category rate is measured for it. A list of exactly this many, as
registration sends a longer one cut short, counts as open too."""
NUMERIC = frozenset({"double", "float", "long", "integer"})
QUANTILES = tuple(i / 20 for i in range(21))


def _finite(values: Sequence[Any]) -> np.ndarray:
    arr = np.array([v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)],
                   dtype="float64")
    return arr[np.isfinite(arr)]


def summary(values: Sequence[Any], kind: str, value_range: Sequence[float] | None = None,
            categories: Sequence[str] | None = None) -> dict[str, Any]:
    """One column's distribution: null rate; numbers: min, max, quantiles, a 20-bin
    histogram; categories: frequencies (and every value seen in the whole training set)."""
    n = len(values)
    nulls = sum(1 for v in values if v is None or (isinstance(v, float) and math.isnan(v)))
    out: dict[str, Any] = {"type": kind, "rows": n, "null_rate": nulls / n if n else 0.0}
    if kind in NUMERIC:
        x = _finite(values)
        out["kind"] = "numeric"
        if len(x):
            lo, hi = (float(value_range[0]), float(value_range[1])) if value_range \
                else (float(x.min()), float(x.max()))
            out.update(min=min(lo, float(x.min())), max=max(hi, float(x.max())),
                       mean=float(x.mean()), std=float(x.std()),
                       quantiles=[float(q) for q in np.quantile(x, QUANTILES)])
            counts, edges = np.histogram(x, bins=20)
            out["histogram"] = {"edges": edges.tolist(), "counts": counts.tolist()}
    else:
        out["kind"] = "categorical"
        text = [str(v) for v in values if v is not None]
        uniq, counts = np.unique(np.array(text, dtype=object), return_counts=True) \
            if text else (np.array([]), np.array([]))
        order = np.argsort(-counts)[:50]
        out["frequencies"] = {str(uniq[i]): int(counts[i]) / len(text) for i in order}
        seen = set(categories or []) | {str(u) for u in uniq}
        if len(categories or []) >= MAX_CATEGORIES or len(seen) > MAX_CATEGORIES:
            out["open_categories"] = True
        else:
            out["categories"] = sorted(seen)
    return out


def build(*, release_id: str, model: str, version: int, signature: Sequence[tuple[str, str]],
          sample: ReferenceSample, source: str) -> dict[str, Any]:
    """The reference document of one release (JSON-able)."""
    types = dict(signature)
    columns = {name: list(sample.columns[name]) for name in types if name in sample.columns}
    doc: dict[str, Any] = {
        "format": REFERENCE_FORMAT, "release_id": release_id, "model": model,
        "version": version, "source": source, "rows_total": sample.rows_total,
        "sample_rows": len(next(iter(columns.values()))) if columns else 0,
        "target": sample.target,
        "columns": {name: summary(values, types[name], sample.ranges.get(name),
                                  sample.categories.get(name))
                    for name, values in columns.items()},
        "missing_columns": sorted(set(types) - set(columns)),
        "sample": columns,
        "labels": sample.labels, "classes": sample.classes,
        "predictions": sample.predictions, "probabilities": sample.probabilities,
    }
    if sample.predictions is not None:
        numeric = all(isinstance(p, float) for p in sample.predictions if p is not None) \
            and sample.classes is None
        doc["prediction"] = summary(sample.predictions, "double" if numeric else "string")
    return doc


def sample_from_rows(rows: Any, signature: Sequence[tuple[str, str]], label: str | None,
                     limit: int = 2000, seed: int = 0) -> ReferenceSample:
    """A reference sample from labelled rows without the model's answers (an evaluation
    set): what a version registered without a training sample is monitored against."""
    frame = rows
    names = [n for n, _ in signature if n in frame.columns]
    full = frame
    if len(frame) > limit:
        frame = frame.sample(n=limit, random_state=seed)
    ranges, categories = {}, {}
    for name, kind in signature:
        if name not in full.columns:
            continue
        if kind in NUMERIC:
            x = _finite(full[name].tolist())
            if len(x):
                ranges[name] = [float(x.min()), float(x.max())]
        elif kind in ("string", "boolean"):
            categories[name] = sorted({str(v) for v in full[name].dropna().tolist()})[:1000]

    def plain(v: Any) -> Any:
        item = getattr(v, "item", None)
        v = item() if item is not None and not isinstance(v, (str, bytes)) else v
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return ReferenceSample(
        rows_total=len(full), columns={n: [plain(v) for v in frame[n].tolist()] for n in names},
        target=label, labels=[plain(v) for v in frame[label].tolist()]
        if label and label in frame.columns else None,
        ranges=ranges, categories=categories)
