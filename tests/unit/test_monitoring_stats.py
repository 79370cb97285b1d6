"""The statistics of a report against scipy (and statsmodels) on known cases: the drift
tests Ferry takes from Evidently, the noise guard around its distances, and the intervals
and z statistics Ferry computes itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from ferry_platform.monitoring import _stats as S  # noqa: N812


def normal(n: int, loc: float = 0.0, seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(loc, 2.0, n))


def test_large_references_use_the_normed_wasserstein_distance() -> None:
    ref, cur = normal(2000, seed=1), normal(3000, 0.8, seed=2)
    r = S.drift(ref, cur, True, min_rows=100)
    assert r.method == "wasserstein" and r.threshold == 0.1 and r.drifted
    assert r.score == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref))
    assert r.p_value is not None and r.p_value <= S.NOISE_P


def test_small_references_use_kolmogorov_smirnov_and_its_p_value() -> None:
    ref, cur = normal(600, seed=3), normal(700, 0.5, seed=4)
    r = S.drift(ref, cur, True, min_rows=100)
    assert r.method == "ks" and r.threshold == 0.05 and r.drifted
    assert r.score == pytest.approx(stats.ks_2samp(ref, cur).pvalue)
    same = S.drift(ref, normal(700, seed=5), True, min_rows=100)
    assert same.method == "ks" and not same.drifted and same.score > 0.05


def test_categories_use_jensen_shannon_over_large_references_and_chi_squared_over_small() -> None:
    rng = np.random.default_rng(6)
    ref = pd.Series(rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2]))
    cur = pd.Series(rng.choice(["a", "b", "c"], 2000, p=[0.2, 0.3, 0.5]))
    r = S.drift(ref, cur, False, min_rows=100)
    want = distance.jensenshannon(ref.value_counts(normalize=True).sort_index(),
                                  cur.value_counts(normalize=True).sort_index())
    assert r.method == "jensenshannon" and r.drifted and r.score == pytest.approx(want)
    small = S.drift(ref[:500], cur[:500], False, min_rows=100)
    counts = cur[:500].value_counts().sort_index()
    expected = ref[:500].value_counts(normalize=True).sort_index() * 500
    assert small.method == "chisquare"
    assert small.score == pytest.approx(stats.chisquare(counts, expected).pvalue)


def test_psi_on_request_and_a_threshold_of_ones_own() -> None:
    ref, cur = normal(2000, seed=7), normal(2000, 1.0, seed=8)
    r = S.drift(ref, cur, True, min_rows=100, method="psi", threshold=0.2)
    assert r.method == "psi" and r.threshold == 0.2 and r.drifted
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    p = np.histogram(ref, bins)[0] / len(ref)
    q = np.histogram(cur, bins)[0] / len(cur)
    p, q = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    assert r.score == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-3)


def test_a_distance_past_its_threshold_within_sampling_noise_is_not_drift() -> None:
    ref = pd.Series(np.random.default_rng(9).lognormal(10, 0.6, 2000))
    # a small window of the same distribution can pass 0.1; find one that does
    for seed in range(200):
        cur = pd.Series(np.random.default_rng(100 + seed).lognormal(10, 0.6, 150))
        if stats.wasserstein_distance(ref, cur) / np.std(ref) >= 0.1:
            break
    else:
        pytest.fail("no small window passed the threshold by chance")
    r = S.drift(ref, cur, True, min_rows=100)
    assert r.score >= 0.1 and not r.drifted and r.p_value > S.NOISE_P
    assert "sampling noise" in r.message


def test_too_few_rows_and_no_reference_are_said_so() -> None:
    r = S.drift(normal(2000), normal(50, 5.0), True, min_rows=100)
    assert (r.status, r.score, r.drifted) == ("not_enough_data", None, False)
    assert "not enough data" in r.message
    assert S.drift([], normal(500), True, min_rows=100).status == "no_reference"


def test_the_mean_interval_is_students_t() -> None:
    x = np.random.default_rng(10).gamma(2.0, 5.0, 57)
    ci = S.mean_ci(x)
    assert (ci.low, ci.high) == pytest.approx(
        stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x)))
    assert S.mean_ci([3.0]).low is None and S.mean_ci([]).mean is None


def test_the_lift_interval_is_welchs() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(10, 2, 80), rng.normal(11, 5, 35)
    diff, low, high = S.diff_ci(a, b)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(b.mean() - a.mean())
    assert (low, high) == pytest.approx((ci.low, ci.high))


def test_slice_gaps_use_the_pooled_two_proportion_z() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    z = S.two_proportion_z(45, 100, 70, 120)
    assert z == pytest.approx(proportions_ztest([45, 70], [100, 120])[0])
    fair = S.GroupRates("a", 200, 200, 0.5, 0.8, 0.2, 0.80, {
        "positive_rate": (100, 200), "tpr": (80, 100), "fpr": (20, 100), "accuracy": (160, 200)})
    broken = S.GroupRates("b", 200, 200, 0.5, 0.3, 0.6, 0.35, {
        "positive_rate": (100, 200), "tpr": (30, 100), "fpr": (60, 100), "accuracy": (70, 200)})
    gaps = {g.metric: g for g in S.gaps([fair, broken], min_rows=30)}
    assert gaps["accuracy"].gap == pytest.approx(0.45) and gaps["accuracy"].significant
    assert (gaps["fpr"].best, gaps["fpr"].worst) == ("a", "b")  # fewer false alarms is better
    assert not gaps["positive_rate"].significant
    assert S.gaps([fair, broken], min_rows=300) == []  # too small to compare


@pytest.mark.parametrize(("label", "kind", "classes", "ok"), [
    (1, "int", [0, 1], True), (1.0, "int", [0, 1], True), ("yes", "int", [0, 1], False),
    (True, "int", [0, 1], False), (7, "int", [0, 1], False), ([1], "int", [0, 1], False),
    ({"a": 1}, None, None, False), ("pro", "str", ["basic", "pro"], True),
    (3, "str", ["basic", "pro"], False), (12.5, "number", None, True),
    (True, "number", None, False), (False, "bool", [False, True], True),
    (float("nan"), "number", None, False),
])
def test_labels_the_model_cannot_have_are_named(label: object, kind: str | None,
                                                classes: list[object] | None, ok: bool) -> None:
    problem = S.label_problem(label, kind, classes)
    assert (problem is None) is ok, problem


def test_label_kinds_from_classes_or_predictions() -> None:
    assert S.label_kind([0, 1], None) == "int"
    assert S.label_kind(["a", "b"], None) == "str"
    assert S.label_kind([False, True], None) == "bool"
    assert S.label_kind(None, [1.5, 2.25]) == "number"
    assert S.label_kind(None, None) is None


def test_a_feature_with_more_values_than_a_reference_lists_counts_none_unseen() -> None:
    """A zip code or an id has more values than a reference lists: a cut-off list would
    call most live values unseen (and raise unseen_category on healthy traffic)."""
    from ferry_platform.monitoring._compute import _reference_sets
    from ferry_platform.monitoring._reference import MAX_CATEGORIES, summary

    rng = np.random.default_rng(7)
    zips = [f"{z:05d}" for z in rng.integers(0, 99_999, 3000)]
    listed = sorted(set(zips))[:MAX_CATEGORIES]  # what registration sends: cut short
    wide = summary(zips[:2000], "string", categories=listed)
    narrow = summary(["basic", "pro"] * 50, "string", categories=["basic", "pro", "team"])
    assert wide.get("open_categories") and "categories" not in wide
    assert narrow["categories"] == ["basic", "pro", "team"]
    ref = {"columns": {"zip": wide, "plan": narrow,
                       "old": {"kind": "categorical", "categories": listed}}}  # an older doc
    _, cats = _reference_sets(ref)
    assert set(cats) == {"plan"}


def test_outcomes_are_read_from_the_windows_days_and_pruned_with_the_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from ferry_platform.monitoring._store import OutcomeStore

    store = OutcomeStore(str(tmp_path))
    store.save("churn", [{"request_id": "r1", "row": 0, "label": 1}])
    [today] = store.files("churn")
    folder = tmp_path / "outcomes" / "deployment=churn"
    now = datetime.now(UTC)
    for days in (3, 40):  # older days, as if written then
        old = folder / f"day={(now - timedelta(days=days)):%Y-%m-%d}"
        old.mkdir()
        (old / "x.parquet").write_bytes(Path(today).read_bytes())
    assert len(store.files("churn")) == 3
    assert len(store.files("churn", now - timedelta(days=5))) == 2  # a 5-day window
    assert store.prune(now - timedelta(days=30)) == 1  # the 40-day-old one
    assert len(store.files("churn")) == 2


def test_a_multiclass_model_that_fails_one_group_raises_an_accuracy_gap() -> None:
    """Three classes, a region where the model is right a third of the time: the gap is
    in accuracy (a positive rate, TPR or FPR needs a positive class: none are made up)."""
    import pandas as pd

    from ferry_platform.core import predlog as P  # noqa: N812
    from ferry_platform.monitoring._compute import _slices

    rng = np.random.default_rng(3)
    n = 1200
    region = rng.choice(["north", "south", "west"], n)
    truth = rng.integers(0, 3, n)
    right = np.where(region == "west", rng.random(n) < 0.35, rng.random(n) < 0.9)
    said = np.where(right, truth, (truth + rng.integers(1, 3, n)) % 3)
    sample = pd.DataFrame({P.input_column("region"): region, P.PREDICTION: said})
    rows = sample.assign(label=truth)
    groups, found, notes = _slices(rows, sample, [0, 1, 2], ["region"], min_rows=30)
    assert notes == [] and {g["group"] for g in groups} == {"north", "south", "west"}
    assert all(g["positive_rate"] is None and g["tpr"] is None for g in groups)
    [gap] = found
    assert (gap["metric"], gap["worst"], gap["significant"]) == ("accuracy", "west", True)
    accuracy = {g["group"]: g["accuracy"] for g in groups}
    assert accuracy["west"] == pytest.approx((said == truth)[region == "west"].mean())
    _, none, said_why = _slices(rows, sample, None, ["region"], min_rows=30)  # a regressor
    assert none == [] and "need a classifier" in said_why[0]
