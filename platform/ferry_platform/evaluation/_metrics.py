"""Scoring a candidate against its champion and a trivial baseline, on the same rows.

Pure functions over arrays and frames: no MLflow, no Feast, no model code. A model's
:class:`Answers` (its labels and class probabilities for the evaluation rows) are computed
elsewhere — in a sandbox, for registered models — and scored here against labels the model
never saw. The models are already trained, so cross-validation here means: the rows are
split into folds; every model is scored on each fold, the baseline (when the training
data's label statistics are not known) is fitted on the other folds; each metric is
reported as the mean and standard deviation over the folds, so a difference can be read
against its noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]

HIGHER_IS_BETTER = {
    "roc_auc": True, "log_loss": False, "brier": False, "accuracy": True,
    "balanced_accuracy": True, "f1_macro": True, "rmse": False, "mae": False, "r2": True,
}
CLASSIFICATION_METRICS = ("roc_auc", "log_loss", "brier", "accuracy", "balanced_accuracy",
                          "f1_macro")
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
class Answers:
    """What one model answered for one frame: a label per row, the class probabilities
    (rows x ``classes``) if it gives them, or the error it raised."""

    labels: Any = None
    proba: Any = None
    classes: Sequence[Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Guardrail:
    """A metric checked beside the primary one: not worse than the champion by more than
    ``tolerance`` (a share of the champion's value if ``relative``), and with
    ``vs_baseline`` not worse than the trivial baseline."""

    metric: str
    tolerance: float = 0.05
    relative: bool = True
    vs_baseline: bool = True


DEFAULT_GUARDRAILS: dict[str, tuple[Guardrail, ...]] = {
    # Ranking can hold while probabilities go wrong (e.g. labels corrupted in training):
    # log loss and the Brier score see it.
    "classification": (Guardrail("log_loss"), Guardrail("brier")),
    "regression": (Guardrail("mae"), Guardrail("rmse")),
}


@dataclass(frozen=True)
class GateConfig:
    """When a candidate may become champion. Defaults are deliberately simple.
    ``guardrails`` None means the task's defaults (:data:`DEFAULT_GUARDRAILS`)."""

    primary_metric: str | None = None
    tolerance: float = 0.01
    baseline_margin: float = 0.0
    slice_column: str | None = None
    slice_tolerance: float = 0.05
    min_slice_rows: int = 30
    guardrails: tuple[Guardrail, ...] | None = None

    def guardrails_for(self, task: Task, primary: str) -> tuple[Guardrail, ...]:
        chosen = DEFAULT_GUARDRAILS[task] if self.guardrails is None else self.guardrails
        return tuple(g for g in chosen if g.metric != primary)


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
def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def answer(scorer: Scorer, proba: bool = True, frame: Any = None) -> Answers:
    """Ask an in-process model for its answers on ``frame`` (default: its own); a model that
    cannot predict is recorded, not raised."""
    frame = scorer.frame if frame is None else frame
    try:
        labels = np.asarray(scorer.predict(frame))
    except Exception as e:  # noqa: BLE001 - a broken model is a finding
        return Answers(error=_describe(e))
    probabilities = None
    if proba and scorer.predict_proba is not None:
        try:
            probabilities = np.asarray(scorer.predict_proba(frame), dtype="float64")
        except Exception:  # noqa: BLE001 - labels still count; probability metrics are None
            probabilities = None
    return Answers(labels=labels, proba=probabilities, classes=scorer.classes)


def scored(answers: Answers, task: Task, classes: list[Any], rows: int) -> Scored:
    """A model's answers as arrays over the evaluation rows (probabilities in the order
    of ``classes``), or the reason they cannot be scored."""
    if answers.error is not None:
        return Scored(labels=np.array([]), error=answers.error)
    labels = np.asarray(answers.labels)
    if labels.ndim > 1:
        labels = labels.reshape(len(labels), -1)[:, 0]
    if len(labels) != rows:
        return Scored(labels=np.array([]), error=f"the model answered {len(labels)} rows for "
                                                 f"{rows}")
    if task == "classification":
        labels = np.asarray([_key(v) for v in labels.tolist()])
    proba = None
    if task == "classification" and answers.proba is not None:
        try:
            raw = np.asarray(answers.proba, dtype="float64")
            if raw.shape[0] == rows:
                proba = _align_proba(raw, list(answers.classes or []), classes)
        except (ValueError, TypeError, IndexError):  # labels still count
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
        "brier": None,
    }
    present = len(np.unique(y)) > 1
    if proba is not None and present:
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        out["log_loss"] = float(m.log_loss(y, clipped, labels=classes))
        out["brier"] = brier(y, clipped, classes)
        try:
            if len(classes) == 2:
                out["roc_auc"] = float(m.roc_auc_score(y == classes[1], proba[:, 1]))
            else:
                out["roc_auc"] = float(m.roc_auc_score(y, clipped, labels=classes,
                                                       multi_class="ovr", average="macro"))
        except ValueError:
            out["roc_auc"] = None
    return out


def brier(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> float:
    """The Brier score: mean squared distance between the probabilities and the one-hot
    truth; for two classes halved, so it is the usual (p - y)² of the positive class."""
    index = {_key(c): i for i, c in enumerate(classes)}
    truth = np.zeros_like(proba)
    truth[np.arange(len(y)), [index[_key(v)] for v in y.tolist()]] = 1.0
    score = float(np.mean(np.sum((proba - truth) ** 2, axis=1)))
    return score / 2 if len(classes) == 2 else score


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
    """Score in-process models and the baseline on the same rows and folds.

    ``scorers[0]`` is the candidate; a second one, if given, is the champion.
    """
    return evaluate_answers(task, y, {s.name: answer(s, task == "classification")
                                      for s in scorers},
                            label_stats=label_stats, slices=slices, gate=gate, folds=folds,
                            seed=seed)


def evaluate_answers(task: Task, y: Any, answers: Mapping[str, Answers], *,
                     label_stats: dict[str, Any] | None = None,
                     slices: Sequence[Any] | None = None, gate: GateConfig | None = None,
                     folds: int | None = None, seed: int = 0) -> EvaluationResult:
    """Score every model's answers for the rows of ``y``, and the baseline, on the same
    rows and folds. The first model is the candidate; a second, if given, the champion.
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
    scored_ = {name: scored(a, task, classes, n) for name, a in answers.items()}
    has_proba = all(s.proba is not None for s in scored_.values() if s.error is None)
    primary = gate.primary_metric or default_primary(task, has_proba)
    result = EvaluationResult(task=task, primary_metric=primary, rows=n, folds=k,
                              classes=[_key(c) for c in classes])

    fold_values: dict[str, dict[str, list[float | None]]] = {}
    names = [*scored_, "baseline"]
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
        for name, s in scored_.items():
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
        if name != "baseline" and scored_[name].error is not None:
            fold_values.pop(name, None)
            result.metrics[name] = {}
            result.robustness.setdefault("errors", {})[name] = scored_[name].error
            continue
        result.metrics[name], result.std[name] = {}, {}
        for metric, per_fold in fold_values.get(name, {}).items():
            result.metrics[name][metric], result.std[name][metric] = _mean_std(per_fold)
    if task == "classification":
        for name, s in scored_.items():
            if s.error is None:
                try:
                    result.per_class[name] = per_class(y_arr, s.labels, classes)
                except (ValueError, TypeError):
                    pass
    if slices is not None:
        result.slices = slice_metrics(task, y_arr, scored_, slices, classes, primary,
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
