"""The statistics of a monitoring report: pure functions over arrays and frames.

- **Drift** is Evidently's: its stat tests and its choice of test per column
  (``evidently.legacy.calculations.stattests``): with a reference of more than 1,000 rows,
  the normed Wasserstein distance for numbers (threshold 0.1) and the Jensen-Shannon
  distance for categories and numbers with at most 5 values (0.1); with a smaller one, the
  two-sample Kolmogorov-Smirnov test for numbers (p < 0.05) and chi-squared (more than 2
  values) or a Z-test of proportions (2 values) for categories. ``method`` asks for one
  test for every column instead (``psi``, ...), ``threshold`` replaces its threshold.
- **Beyond noise.** A distance (Wasserstein, Jensen-Shannon, PSI, ...) says how far two
  samples are, not whether a small window could be that far by chance: 400 rows of an
  unchanged distribution pass Wasserstein's 0.1 now and then. So a column drifts when its
  distance passes the threshold *and* a permutation test of the same statistic says the
  window is not the reference's distribution (``PERMUTATIONS`` splits of the pooled rows,
  p ≤ ``NOISE_P``). On large windows the test never holds a real drift back; on small
  ones it removes the false alarms. Tests that are significance tests already (KS,
  chi-squared, Z) are used as they are.
  Evidently is imported on first use only: this runs in the monitoring job, never in the
  SDK, the replicas or on the control plane's import path.
- **Intervals** (business value per arm, the lift of a candidate, slice gaps) are the
  textbook ones, computed here with scipy's distributions and tested against scipy on
  known cases (tests/unit/test_monitoring_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferry_contract import DISTANCE_METHODS

NUMERIC_TYPES = frozenset({"double", "float", "long", "integer"})
DISTANCES = DISTANCE_METHODS
"""Evidently's stat tests whose score is a distance (the rest give p-values)."""
PERMUTATIONS = 49
NOISE_P = 0.02
"""A distance past its threshold is drift only if at most this share of random splits of
the pooled rows is as far apart (p ≤ 0.02: beyond every one of 49 permutations)."""
GUARD_ROWS = 5_000
"""Window rows the permutation test uses at most (a uniform sample; large windows have
little noise)."""


@dataclass(frozen=True)
class DriftResult:
    method: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    status: str = "ok"  # ok, not_enough_data, no_reference
    rows: int = 0
    message: str = ""
    p_value: float | None = None


def _series(values: Any) -> Any:
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(list(values))
    return s.dropna().reset_index(drop=True)


def drift(reference: Any, current: Any, numeric: bool, *, min_rows: int,
          method: str | None = None, threshold: float | None = None) -> DriftResult:
    """One column's drift from ``reference`` to ``current`` (nulls left out: the null rate
    is a fragility measure of its own)."""
    ref, cur = _series(reference), _series(current)
    if len(ref) == 0:
        return DriftResult(None, None, None, False, "no_reference", len(cur),
                           "the reference holds no value of this column")
    if len(cur) < min_rows:
        return DriftResult(None, None, None, False, "not_enough_data", len(cur),
                           f"not enough data: {len(cur)} value(s) in the window, "
                           f"{min_rows} needed")
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    if numeric:
        ref, cur = ref.astype("float64"), cur.astype("float64")
    else:
        ref, cur = ref.astype(str), cur.astype(str)
    kind = ColumnType.Numerical if numeric else ColumnType.Categorical
    try:
        test = get_stattest(ref, cur, kind, method)
        result = test(ref, cur, kind, threshold)
    except ValueError as e:  # e.g. PSI asked of a column it cannot bin
        return DriftResult(method, None, threshold, False, "error", len(cur), str(e)[:200])
    score = float(result.drift_score)
    drifted, p_value = bool(result.drifted), None
    if drifted and test.name in DISTANCES and math.isfinite(score):
        p_value = permutation_p(test, ref, cur, kind, score)
        drifted = p_value <= NOISE_P
    return DriftResult(test.name, score if math.isfinite(score) else None,
                       float(result.actual_threshold), drifted, "ok", len(cur),
                       "" if drifted or not result.drifted else
                       f"past the threshold, but within sampling noise (p={p_value:.2f})",
                       p_value)


def permutation_p(test: Any, ref: Any, cur: Any, kind: Any, observed: float,
                  permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """The share of random splits of the pooled rows (sizes kept) at least ``observed``
    apart by ``test``'s statistic (with the observed split counted)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    if len(cur) > GUARD_ROWS:
        cur = cur.iloc[rng.choice(len(cur), GUARD_ROWS, replace=False)]
        observed = float(test(ref, cur, kind, None).drift_score)
    pooled = pd.concat([ref, cur], ignore_index=True)
    n = len(ref)
    as_far = 0
    for _ in range(permutations):
        order = rng.permutation(len(pooled))
        a = pooled.iloc[order[:n]].reset_index(drop=True)
        b = pooled.iloc[order[n:]].reset_index(drop=True)
        if float(test(a, b, kind, None).drift_score) >= observed:
            as_far += 1
    return (as_far + 1) / (permutations + 1)


# -- fragility ----------------------------------------------------------------------------------
@dataclass
class Fragility:
    rows: int = 0
    nulls: int = 0
    out_of_range: int = 0
    numeric_rows: int = 0
    unseen: int = 0
    text_rows: int = 0
    misses: int = 0
    examples: tuple[str, ...] = ()

    def add(self, other: Fragility) -> Fragility:
        examples = tuple(dict.fromkeys(self.examples + other.examples))[:10]
        return Fragility(self.rows + other.rows, self.nulls + other.nulls,
                         self.out_of_range + other.out_of_range,
                         self.numeric_rows + other.numeric_rows, self.unseen + other.unseen,
                         self.text_rows + other.text_rows, self.misses + other.misses,
                         examples)


def fragility(values: Any, kind: str, value_range: Sequence[float] | None,
              categories: set[str] | None, misses: int = 0) -> Fragility:
    """Counts of one feature's nulls, numbers outside the training range, categories the
    training data lacked, and online lookups that found nothing."""
    import pandas as pd

    s = values if isinstance(values, pd.Series) else pd.Series(values)
    rows = len(s)
    present = s.dropna()
    out = Fragility(rows=rows, nulls=rows - len(present), misses=misses)
    if kind in NUMERIC_TYPES and value_range is not None and len(present):
        x = pd.to_numeric(present, errors="coerce").to_numpy(dtype="float64")
        lo, hi = value_range
        out.out_of_range = int(np.count_nonzero((x < lo) | (x > hi)))
        out.numeric_rows = len(present)
    elif kind in ("string", "boolean") and categories is not None and len(present):
        text = present.astype(str)
        unseen = ~text.isin(categories)
        out.unseen = int(unseen.sum())
        out.text_rows = len(present)
        out.examples = tuple(text[unseen].value_counts().index[:10].tolist())
    return out


# -- latency ---------------------------------------------------------------------------------
def quantiles(values: Any, qs: Sequence[float] = (0.5, 0.95, 0.99)) -> list[float | None]:
    arr = np.asarray(values, dtype="float64")
    arr = arr[np.isfinite(arr)]
    if not len(arr):
        return [None] * len(qs)
    return [float(v) for v in np.quantile(arr, qs)]


# -- business value ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float | None
    low: float | None
    high: float | None


def mean_ci(values: Any, level: float = 0.95) -> MeanCI:
    """The mean and its ``level`` interval, Student's t (n - 1 degrees of freedom)."""
    from scipy import stats

    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return MeanCI(0, None, None, None)
    mean = float(x.mean())
    if n < 2:
        return MeanCI(n, mean, None, None)
    se = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return MeanCI(n, mean, mean - half, mean + half)


def diff_ci(a: Any, b: Any, level: float = 0.95) -> tuple[float | None, float | None,
                                                           float | None]:
    """mean(b) - mean(a) and its ``level`` interval (Welch: unequal variances)."""
    from scipy import stats

    x = np.asarray(a, dtype="float64")
    y = np.asarray(b, dtype="float64")
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) < 2 or len(y) < 2:
        diff = float(y.mean() - x.mean()) if len(x) and len(y) else None
        return diff, None, None
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(y.mean() - x.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return diff, diff - half, diff + half


# -- slices --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupRates:
    group: str
    rows: int
    labelled: int
    positive_rate: float | None
    tpr: float | None
    fpr: float | None
    accuracy: float | None
    counts: dict[str, tuple[int, int]]  # metric -> (successes, trials)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def group_rates(group: str, predicted_positive: np.ndarray, y: np.ndarray,
                labelled_positive: np.ndarray, correct: np.ndarray) -> GroupRates:
    """Rates of one group: the positive rate over all its answered rows
    (``predicted_positive``); TPR, FPR and accuracy over its labelled rows (``y``: truly
    positive, ``labelled_positive``: predicted positive, ``correct``)."""
    y = y.astype(bool)
    p = labelled_positive.astype(bool)
    rows, pp = len(predicted_positive), int(np.count_nonzero(predicted_positive))
    tp, pos = int(np.count_nonzero(p & y)), int(np.count_nonzero(y))
    fp, neg = int(np.count_nonzero(p & ~y)), int(np.count_nonzero(~y))
    ok, n = int(np.count_nonzero(correct)), len(y)
    counts = {"positive_rate": (pp, rows), "tpr": (tp, pos), "fpr": (fp, neg),
              "accuracy": (ok, n)}
    return GroupRates(group, rows, n, _rate(pp, rows), _rate(tp, pos), _rate(fp, neg),
                      _rate(ok, n), counts)


@dataclass(frozen=True)
class Gap:
    metric: str
    gap: float
    best: str
    worst: str
    z: float | None
    significant: bool


SIGNIFICANT_Z = 3.0
"""A slice gap counts when its two-proportion z statistic is at least this (p ≈ 0.003,
two-sided): groups of a few dozen rows differ by 0.1 by chance often enough to alarm."""


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """The pooled two-proportion z statistic of k1/n1 vs k2/n2."""
    if not n1 or not n2:
        return None
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0 if k1 / n1 == k2 / n2 else math.inf
    return (k1 / n1 - k2 / n2) / se


GAP_METRICS = ("positive_rate", "tpr", "fpr", "accuracy")


def gaps(groups: Sequence[GroupRates], min_rows: int,
         metrics: Sequence[str] = GAP_METRICS) -> list[Gap]:
    """For each metric, the gap between the best and the worst group of at least
    ``min_rows`` trials, and whether it is significant (``SIGNIFICANT_Z``)."""
    out = []
    for metric in metrics:
        rated = [(g.counts[metric][0] / g.counts[metric][1], g) for g in groups
                 if g.counts[metric][1] >= min_rows]
        if len(rated) < 2:
            continue
        (hi, high), (lo, low) = max(rated, key=lambda t: t[0]), min(rated, key=lambda t: t[0])
        z = two_proportion_z(*high.counts[metric], *low.counts[metric])
        best, worst = (low, high) if metric == "fpr" else (high, low)  # fewer false alarms
        out.append(Gap(metric, hi - lo, best.group, worst.group, z,
                       z is not None and z >= SIGNIFICANT_Z))
    return out


# -- labels ----------------------------------------------------------------------------------
def label_kind(classes: Sequence[Any] | None, predictions: Sequence[Any] | None) -> str | None:
    """What a model's labels are: ``int``, ``str``, ``bool`` (a classifier's classes) or
    ``number`` (a regressor's); None when unknown."""
    sample = [c for c in (classes or []) if c is not None]
    if not sample:
        sample = [p for p in (predictions or []) if p is not None][:100]
        if sample and all(isinstance(p, float) for p in sample):
            return "number"
    if not sample:
        return None
    if all(isinstance(c, bool) for c in sample):
        return "bool"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in sample):
        return "int"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in sample):
        return "int" if all(float(c).is_integer() for c in sample) and classes else "number"
    if all(isinstance(c, str) for c in sample):
        return "str"
    return None


def label_problem(label: Any, kind: str | None, classes: Sequence[Any] | None) -> str | None:
    """Why ``label`` cannot be a true label of a model of ``kind`` (None: it can)."""
    if isinstance(label, (dict, list, tuple)):
        return f"a label is one value, got {'an object' if isinstance(label, dict) else 'a list'}"
    if isinstance(label, float) and not math.isfinite(label):
        return "labels are finite"
    if kind is None:
        return None
    ok = {"bool": isinstance(label, bool),
          "int": isinstance(label, int) and not isinstance(label, bool)
          or isinstance(label, float) and label.is_integer(),
          "number": isinstance(label, (int, float)) and not isinstance(label, bool),
          "str": isinstance(label, str)}[kind]
    names = {"bool": "true or false", "int": "an integer class", "number": "a number",
             "str": "a string class"}
    if not ok:
        got = type(label).__name__ if label is not None else "null"
        return f"the model's labels are {names[kind]}, got {got} {str(label)[:40]!r}"
    if classes and kind in ("int", "str", "bool"):
        known = {_key(c) for c in classes}
        if _key(label) not in known:
            return f"{str(label)[:40]!r} is not one of the model's classes {list(classes)[:20]}"
    return None


def _key(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
