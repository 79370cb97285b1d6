"""Scoring a candidate against its champion and a trivial baseline, on the same rows.

Pure functions over arrays and frames: no MLflow, no Feast. The models are already
trained, so cross-validation here means: the rows are split into folds; every model is
scored on each fold, the baseline (when the training data's label statistics are not
known) is fitted on the other folds; each metric is reported as the mean and standard
deviation over the folds, so a difference can be read against its noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]

HIGHER_IS_BETTER = {
    "roc_auc": True, "log_loss": False, "accuracy": True, "balanced_accuracy": True,
    "f1_macro": True, "rmse": False, "mae": False, "r2": True,
}
CLASSIFICATION_METRICS = ("roc_auc", "log_loss", "accuracy", "balanced_accuracy", "f1_macro")
REGRESSION_METRICS = ("rmse", "mae", "r2")
SMALL_DATA_ROWS = 5_000
"""Up to this many rows an evaluation uses 5-fold cross-validation; above it, one pass."""


@dataclass(frozen=True)
class Scorer:
    """One model to score: its predictions on its own input frame of the evaluation rows."""

    name: str
    predict: Callable[[Any], Any]
    frame: Any
    predict_proba: Callable[[Any], Any] | None = None
    classes: Sequence[Any] | None = None


@dataclass(frozen=True)
class GateConfig:
    """When a candidate may become champion. Defaults are deliberately simple."""

    primary_metric: str | None = None
    tolerance: float = 0.01
    baseline_margin: float = 0.0
    slice_column: str | None = None
    slice_tolerance: float = 0.05
    min_slice_rows: int = 30


@dataclass
class Scored:
    """Predictions of one model over all evaluation rows."""

    labels: np.ndarray
    proba: np.ndarray | None = None
    error: str | None = None


@dataclass
class EvaluationResult:
    task: Task
    primary_metric: str
    rows: int
    folds: int
    classes: list[Any] = field(default_factory=list)
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    std: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)
    robustness: dict[str, Any] = field(default_factory=dict)


def infer_task(y: Any) -> Task:
    """Classification for booleans, strings and integer labels with few values."""
    arr = np.asarray(y)
    if arr.dtype.kind in "bOUS":
        return "classification"
    if arr.dtype.kind in "iu":
        return "classification" if len(np.unique(arr)) <= max(20, int(0.05 * len(arr))) \
            else "regression"
    finite = arr[np.isfinite(arr)]
    if len(finite) and np.all(np.equal(np.mod(finite, 1), 0)) and len(np.unique(finite)) <= 20:
        return "classification"
    return "regression"


def default_primary(task: Task, has_proba: bool) -> str:
    if task == "regression":
        return "rmse"
    return "roc_auc" if has_proba else "f1_macro"


def better(metric: str, a: float, b: float) -> float:
    """How much better ``a`` is than ``b`` on ``metric`` (positive = better)."""
    return (a - b) if HIGHER_IS_BETTER.get(metric, True) else (b - a)


# -- scoring ----------------------------------------------------------------------------
def score(scorer: Scorer, task: Task, classes: list[Any]) -> Scored:
    """Predict once over all rows; a model that cannot predict is recorded, not raised."""
    try:
        labels = np.asarray(scorer.predict(scorer.frame))
        if labels.ndim > 1:
            labels = labels.reshape(len(labels), -1)[:, 0]
    except Exception as e:  # noqa: BLE001 - a broken model is a finding
        return Scored(labels=np.array([]), error=f"{type(e).__name__}: {e}"[:500])
    proba = None
    try:
        if task == "classification" and scorer.predict_proba is not None:
            raw = np.asarray(scorer.predict_proba(scorer.frame), dtype="float64")
            proba = _align_proba(raw, list(scorer.classes or []), classes)
    except Exception:  # noqa: BLE001 - labels still count; probability metrics are None
        proba = None
    return Scored(labels=labels, proba=proba)


def _align_proba(raw: np.ndarray, model_classes: list[Any], classes: list[Any]) -> np.ndarray:
    if raw.ndim == 1:
        raw = np.column_stack([1 - raw, raw])
    out = np.zeros((raw.shape[0], len(classes)))
    if not model_classes:
        model_classes = classes[: raw.shape[1]]
    index = {_key(c): i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        i = index.get(_key(c))
        if i is not None and j < raw.shape[1]:
            out[:, i] = raw[:, j]
    return out


def _key(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def metrics_for(task: Task, y: np.ndarray, labels: np.ndarray, proba: np.ndarray | None,
                classes: list[Any]) -> dict[str, float | None]:
    from sklearn import metrics as m

    if task == "regression":
        y_f = y.astype("float64")
        p_f = labels.astype("float64")
        return {
            "rmse": float(math.sqrt(m.mean_squared_error(y_f, p_f))),
            "mae": float(m.mean_absolute_error(y_f, p_f)),
            "r2": float(m.r2_score(y_f, p_f)) if len(np.unique(y_f)) > 1 else None,
        }
    out: dict[str, float | None] = {
        "accuracy": float(m.accuracy_score(y, labels)),
        "balanced_accuracy": float(m.balanced_accuracy_score(y, labels)),
        "f1_macro": float(m.f1_score(y, labels, labels=classes, average="macro",
                                     zero_division=0)),
        "roc_auc": None,
        "log_loss": None,
    }
    present = len(np.unique(y)) > 1
    if proba is not None and present:
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        out["log_loss"] = float(m.log_loss(y, clipped, labels=classes))
        try:
            if len(classes) == 2:
                out["roc_auc"] = float(m.roc_auc_score(y == classes[1], proba[:, 1]))
            else:
                out["roc_auc"] = float(m.roc_auc_score(y, clipped, labels=classes,
                                                       multi_class="ovr", average="macro"))
        except ValueError:
            out["roc_auc"] = None
    return out


def per_class(y: np.ndarray, labels: np.ndarray, classes: list[Any]) -> dict[str, dict[str, float]]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y, labels, labels=classes, zero_division=0)
    return {str(_key(c)): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                           "support": int(s[i])} for i, c in enumerate(classes)}


class Baseline:
    """The trivial model: class priors (most frequent label) or the mean / median value."""

    def __init__(self, task: Task, classes: list[Any]) -> None:
        self.task = task
        self.classes = classes
        self.prior = np.full(len(classes), 1 / max(len(classes), 1))
        self.mean = 0.0
        self.median = 0.0

    def fit(self, y: np.ndarray) -> Baseline:
        if self.task == "regression":
            self.mean, self.median = float(np.mean(y)), float(np.median(y))
        else:
            counts = np.array([np.sum(y == c) for c in self.classes], dtype="float64")
            self.prior = counts / counts.sum() if counts.sum() else self.prior
        return self

    def fit_stats(self, stats: dict[str, Any]) -> Baseline:
        """Fit from the training data's label statistics recorded at registration."""
        if self.task == "regression":
            self.mean, self.median = float(stats["mean"]), float(stats["median"])
        else:
            counts = {str(k): float(v) for k, v in stats.get("counts", {}).items()}
            arr = np.array([counts.get(str(_key(c)), 0.0) for c in self.classes])
            self.prior = arr / arr.sum() if arr.sum() else self.prior
        return self

    def metrics(self, y: np.ndarray) -> dict[str, float | None]:
        n = len(y)
        if self.task == "regression":
            out = metrics_for(self.task, y, np.full(n, self.mean), None, self.classes)
            # The median predictor is the trivial optimum for absolute error.
            out["mae"] = metrics_for(self.task, y, np.full(n, self.median), None,
                                     self.classes)["mae"]
            return out
        top = self.classes[int(np.argmax(self.prior))]
        labels = np.asarray([top] * n)
        return metrics_for(self.task, y, labels, np.tile(self.prior, (n, 1)), self.classes)


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return None, None
    return float(np.mean(clean)), float(np.std(clean))


def evaluate(task: Task, y: Any, scorers: Sequence[Scorer], *,
             label_stats: dict[str, Any] | None = None, slices: Sequence[Any] | None = None,
             gate: GateConfig | None = None, folds: int | None = None,
             seed: int = 0) -> EvaluationResult:
    """Score every model and the baseline on the same rows and folds.

    ``scorers[0]`` is the candidate; a second one, if given, is the champion.
    """
    gate = gate or GateConfig()
    y_arr = np.asarray(y)
    if y_arr.dtype.kind == "O":
        y_arr = y_arr.astype(str) if any(isinstance(v, str) for v in y_arr) else y_arr
    n = len(y_arr)
    classes = sorted({_key(v) for v in y_arr.tolist()}, key=str) if task == "classification" else []
    if task == "classification" and label_stats and label_stats.get("counts"):
        known = {str(c) for c in classes}
        for c in label_stats["counts"]:
            if str(c) not in known:
                classes.append(_typed_like(c, classes))
        classes = sorted(classes, key=str)
    if task == "classification":
        y_arr = np.asarray([_key(v) for v in y_arr.tolist()])
    k = folds or (5 if n <= SMALL_DATA_ROWS else 1)
    k = max(1, min(k, n // 2 if n >= 4 else 1))
    parts = _folds(n, k, seed)
    scored = {s.name: score(s, task, classes) for s in scorers}
    for s in scored.values():
        if task == "classification" and s.error is None:
            s.labels = np.asarray([_key(v) for v in s.labels.tolist()])
    has_proba = all(s.proba is not None for s in scored.values() if s.error is None)
    primary = gate.primary_metric or default_primary(task, has_proba)
    result = EvaluationResult(task=task, primary_metric=primary, rows=n, folds=k,
                              classes=[_key(c) for c in classes])

    fold_values: dict[str, dict[str, list[float | None]]] = {}
    names = [s.name for s in scorers] + ["baseline"]
    for i, test in enumerate(parts):
        y_test = y_arr[test]
        base = Baseline(task, classes)
        if label_stats:
            base.fit_stats(label_stats)
        else:
            train = np.concatenate([p for j, p in enumerate(parts) if j != i]) if k > 1 \
                else test
            base.fit(y_arr[train])
        per_model = {"baseline": base.metrics(y_test)}
        for name, s in scored.items():
            if s.error is None:
                try:
                    per_model[name] = metrics_for(task, y_test, s.labels[test],
                                                  None if s.proba is None else s.proba[test],
                                                  classes)
                except (ValueError, TypeError) as e:  # answers the metrics cannot take
                    s.error = f"{type(e).__name__}: {e}"[:500]
        for name, values in per_model.items():
            for metric, value in values.items():
                fold_values.setdefault(name, {}).setdefault(metric, []).append(value)
    for name in names:
        if name != "baseline" and scored[name].error is not None:
            fold_values.pop(name, None)
            result.metrics[name] = {}
            result.robustness.setdefault("errors", {})[name] = scored[name].error
            continue
        result.metrics[name], result.std[name] = {}, {}
        for metric, per_fold in fold_values.get(name, {}).items():
            result.metrics[name][metric], result.std[name][metric] = _mean_std(per_fold)
    if task == "classification":
        for name, s in scored.items():
            if s.error is None:
                try:
                    result.per_class[name] = per_class(y_arr, s.labels, classes)
                except (ValueError, TypeError):
                    pass
    if slices is not None:
        result.slices = slice_metrics(task, y_arr, scored, slices, classes, primary,
                                      label_stats, gate.min_slice_rows)
    result.robustness.update(class_balance(task, y_arr, classes, result.per_class))
    return result


def _typed_like(value: Any, classes: list[Any]) -> Any:
    if classes and isinstance(classes[0], int):
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    if value in ("True", "False") and classes and isinstance(classes[0], bool):
        return value == "True"
    return value


def slice_metrics(task: Task, y: np.ndarray, scored: dict[str, Scored], slices: Sequence[Any],
                  classes: list[Any], primary: str, label_stats: dict[str, Any] | None,
                  min_rows: int) -> list[dict[str, Any]]:
    """The primary metric per value of the slice column, for every model and the baseline."""
    values = np.asarray([("<null>" if v is None or (isinstance(v, float) and math.isnan(v))
                          else str(v)) for v in slices], dtype=object)
    out = []
    base = Baseline(task, classes)
    if label_stats:
        base.fit_stats(label_stats)
    else:
        base.fit(y)
    for value in sorted(set(values.tolist())):
        idx = np.flatnonzero(values == value)
        row: dict[str, Any] = {"value": value, "rows": int(len(idx)),
                               "evaluated": len(idx) >= min_rows, "metrics": {}}
        row["metrics"]["baseline"] = base.metrics(y[idx]).get(primary)
        for name, s in scored.items():
            if s.error is None:
                try:
                    row["metrics"][name] = metrics_for(
                        task, y[idx], s.labels[idx], None if s.proba is None else s.proba[idx],
                        classes).get(primary)
                except (ValueError, TypeError):
                    row["metrics"][name] = None
        out.append(row)
    return out


def class_balance(task: Task, y: np.ndarray, classes: list[Any],
                  per_cls: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Unbalanced classes: the share of each class and every model's recall per class."""
    if task != "classification" or not classes:
        return {}
    counts = {str(_key(c)): int(np.sum(y == c)) for c in classes}
    total = max(sum(counts.values()), 1)
    minority = min(counts, key=lambda c: counts[c])
    return {"class_balance": {
        "shares": {c: counts[c] / total for c in counts},
        "imbalance_ratio": max(counts.values()) / max(min(counts.values()), 1),
        "minority_class": minority,
        "minority_recall": {name: pc[minority]["recall"] for name, pc in per_cls.items()},
    }}


# -- robustness -------------------------------------------------------------------------
def robustness(task: Task, scorer: Scorer, *, sample: int = 500,
               seed: int = 0) -> dict[str, Any]:
    """How fragile the model is on its own inputs: feature scales, small perturbations,
    and nulls. Run on a sample; every failure is recorded with its error, never raised."""
    import pandas as pd

    frame = scorer.frame
    if len(frame) > sample:
        frame = frame.sample(sample, random_state=seed)
    frame = frame.reset_index(drop=True)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    out: dict[str, Any] = {}
    stds = {c: float(frame[c].std(skipna=True) or 0.0) for c in numeric}
    spread = [s for s in stds.values() if s > 0]
    out["scales"] = {
        "std": stds,
        "ratio": (max(spread) / min(spread)) if spread else None,
    }
    try:
        base = np.asarray(scorer.predict(frame))
    except Exception as e:  # noqa: BLE001
        return {**out, "error": f"{type(e).__name__}: {e}"[:300]}
    rng = np.random.default_rng(seed)
    sensitivity: dict[str, float | str] = {}
    for col in numeric:
        if stds[col] <= 0:
            continue
        nudged = frame.copy()
        noise = rng.normal(0.0, 0.01 * stds[col], size=len(frame))
        nudged[col] = nudged[col].astype("float64") + noise
        try:
            moved = np.asarray(scorer.predict(nudged))
        except Exception as e:  # noqa: BLE001
            sensitivity[col] = f"error: {type(e).__name__}"
            continue
        sensitivity[col] = _change(task, base, moved)
    out["perturbation"] = {
        "noise": "1% of the feature's std",
        "changed": sensitivity,
        "max": max((v for v in sensitivity.values() if isinstance(v, float)), default=0.0),
    }
    nulls: dict[str, str] = {}
    for col in frame.columns:
        holed = frame.copy()
        holed[col] = None if not pd.api.types.is_numeric_dtype(frame[col]) else np.nan
        try:
            scorer.predict(holed.head(50))
            nulls[col] = "ok"
        except Exception as e:  # noqa: BLE001
            nulls[col] = f"error: {type(e).__name__}: {str(e)[:120]}"
    out["nulls"] = nulls
    return out


def _change(task: Task, a: np.ndarray, b: np.ndarray) -> float:
    """Share of changed labels (classification) or mean relative change (regression)."""
    if task == "classification":
        return float(np.mean(a.astype(str) != b.astype(str)))
    a_f, b_f = a.astype("float64"), b.astype("float64")
    scale = float(np.mean(np.abs(a_f))) or 1.0
    return float(np.mean(np.abs(a_f - b_f)) / scale)


# -- the gate ---------------------------------------------------------------------------
def gates(result: EvaluationResult, config: GateConfig,
          champion: str | None = "champion") -> list[dict[str, Any]]:
    """Every check a candidate must pass to become champion, each with its numbers."""
    metric = result.primary_metric
    cand = result.metrics.get("candidate", {}).get(metric)
    base = result.metrics.get("baseline", {}).get(metric)
    arrow = "higher" if HIGHER_IS_BETTER.get(metric, True) else "lower"
    out: list[dict[str, Any]] = []
    if cand is None:
        err = result.robustness.get("errors", {}).get("candidate")
        out.append({"name": "scored", "passed": False, "metric": metric, "value": None,
                    "threshold": None,
                    "detail": f"the candidate has no {metric}: {err or 'undefined on this data'}"})
        return out
    margin = better(metric, cand, base) if base is not None else math.inf
    # Better than the baseline beyond the folds' noise (two standard errors), and by
    # more than the configured margin: a lucky guesser does not pass.
    spread = result.std.get("candidate", {}).get(metric) or 0.0
    noise = 2 * spread / math.sqrt(result.folds) if result.folds > 1 else 0.0
    needed = max(config.baseline_margin, noise)
    out.append({
        "name": "beats_baseline", "metric": metric, "value": cand, "reference": base,
        "threshold": needed,
        "passed": margin > needed,
        "detail": f"{metric} {cand:.4f} vs baseline {base if base is None else round(base, 4)} "
                  f"({arrow} is better); must be better by more than {needed:.4f} "
                  f"(margin {config.baseline_margin}, fold noise {noise:.4f})",
    })
    champ = result.metrics.get(champion or "", {}).get(metric) if champion else None
    errors = result.robustness.get("errors", {})
    scored_champion = bool(champion) and (champion in result.metrics or champion in errors)
    if scored_champion and champ is None:
        err = result.robustness.get("errors", {}).get(champion)
        out.append({"name": "vs_champion", "metric": metric, "value": cand, "reference": None,
                    "threshold": None, "passed": False,
                    "detail": f"the champion could not be scored on {metric} "
                              f"({err or 'undefined on this data'}): no comparison, no "
                              "promotion; fix the champion or override with a reason"})
    elif scored_champion and champ is not None:
        delta = better(metric, cand, champ)
        out.append({
            "name": "vs_champion", "metric": metric, "value": cand, "reference": champ,
            "threshold": -config.tolerance, "passed": delta >= -config.tolerance,
            "detail": f"{metric} {cand:.4f} vs champion {champ:.4f}: "
                      f"{'+' if delta >= 0 else ''}{delta:.4f} ({arrow} is better); "
                      f"may be worse by at most {config.tolerance}",
        })
        for row in result.slices:
            c, ch = row["metrics"].get("candidate"), row["metrics"].get(champion)
            if not row["evaluated"] or c is None or ch is None:
                continue
            d = better(metric, c, ch)
            out.append({
                "name": f"slice:{row['value']}", "metric": metric, "value": c, "reference": ch,
                "threshold": -config.slice_tolerance, "passed": d >= -config.slice_tolerance,
                "detail": f"{config.slice_column or 'slice'}={row['value']} ({row['rows']} rows): "
                          f"{metric} {c:.4f} vs champion {ch:.4f} ({d:+.4f}); may be worse by "
                          f"at most {config.slice_tolerance}",
            })
    else:
        out.append({"name": "vs_champion", "metric": metric, "value": cand, "reference": None,
                    "threshold": None, "passed": True,
                    "detail": "no champion yet: the first version to pass becomes champion"})
    return out
