"""The evaluation core on synthetic data whose truth is known, with wide margins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ferry_platform.evaluation import GateConfig, Scorer, evaluate, gates, infer_task, robustness
from tests._synth import churn, numeric_features, unbalanced


def _scorer(name: str, model, frame: pd.DataFrame) -> Scorer:
    return Scorer(name=name, predict=model.predict, frame=frame,
                  predict_proba=getattr(model, "predict_proba", None),
                  classes=list(getattr(model, "classes_", [])) or None)


@pytest.fixture(scope="module")
def churn_data():
    train, test = churn(4000, seed=1), churn(3000, seed=2)
    good = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        numeric_features(train), train["churned"])
    # Guesses from the class priors, whatever the features say.
    noise = DummyClassifier(strategy="stratified", random_state=3).fit(
        numeric_features(train), train["churned"])
    # Sees only the weakest feature: better than the baseline, clearly worse than `good`.
    weak = LogisticRegression().fit(train[["income"]].assign(tickets=train["tickets"]),
                                    train["churned"])
    return train, test, good, noise, weak


def test_better_candidate_passes_and_worse_is_refused(churn_data) -> None:
    train, test, good, noise, weak = churn_data
    X = numeric_features(test)
    stats = {"counts": train["churned"].value_counts().to_dict()}
    result = evaluate("classification", test["churned"], [
        _scorer("candidate", good, X), _scorer("champion", weak, X[["income", "tickets"]])],
        label_stats=stats, slices=test["plan"], gate=GateConfig(slice_column="plan"))
    assert result.primary_metric == "roc_auc" and result.folds == 5
    assert result.metrics["baseline"]["roc_auc"] == pytest.approx(0.5)
    assert result.metrics["candidate"]["roc_auc"] > result.metrics["champion"]["roc_auc"] + 0.05
    checks = gates(result, GateConfig(slice_column="plan"))
    assert all(c["passed"] for c in checks), checks
    assert {"beats_baseline", "vs_champion", "slice:basic", "slice:pro"} <= {c["name"] for c in checks}

    # The weak model as candidate against the good champion: refused on the primary metric.
    swapped = evaluate("classification", test["churned"], [
        _scorer("candidate", weak, X[["income", "tickets"]]), _scorer("champion", good, X)],
        label_stats=stats)
    refused = {c["name"]: c for c in gates(swapped, GateConfig())}
    assert not refused["vs_champion"]["passed"]
    assert refused["beats_baseline"]["passed"]

    # A model no better than the baseline is refused even with no champion.
    alone = evaluate("classification", test["churned"], [_scorer("candidate", noise, X)],
                     label_stats=stats)
    checks = {c["name"]: c for c in gates(alone, GateConfig(baseline_margin=0.05))}
    assert not checks["beats_baseline"]["passed"]
    assert checks["vs_champion"]["passed"]  # no champion yet


def test_unbalanced_classes_report_per_class_recall() -> None:
    train, test = unbalanced(6000, seed=4), unbalanced(3000, seed=5)
    majority = LogisticRegression(class_weight={0: 1, 1: 1e-6}).fit(train[["x1", "x2"]],
                                                                      train["label"])
    result = evaluate("classification", test["label"],
                      [_scorer("candidate", majority, test[["x1", "x2"]])])
    # Accuracy looks excellent; the minority class is never found, and the record says so.
    assert result.metrics["candidate"]["accuracy"] > 0.95
    balance = result.robustness["class_balance"]
    assert balance["minority_class"] == "1" and balance["imbalance_ratio"] > 20
    assert balance["minority_recall"]["candidate"] < 0.2
    assert result.per_class["candidate"]["1"]["support"] == int(test["label"].sum())


def test_regression_against_mean_and_median_baselines() -> None:
    rng = np.random.default_rng(6)
    X = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(0, 500, 2000)})
    y = 3 * X["a"] + X["b"] / 100 + rng.normal(0, 0.5, 2000)
    model = LinearRegression().fit(X[:1000], y[:1000])
    assert infer_task(y) == "regression"
    result = evaluate("regression", y[1000:], [_scorer("candidate", model, X[1000:])])
    assert result.primary_metric == "rmse"
    assert result.metrics["candidate"]["rmse"] < 0.5 * result.metrics["baseline"]["rmse"]
    assert all(c["passed"] for c in gates(result, GateConfig()))


def test_slice_regression_is_caught() -> None:
    """A candidate fine overall but broken for one group fails that slice's gate."""
    rng = np.random.default_rng(7)
    n = 3000
    group = rng.choice(["north", "south"], n, p=[0.8, 0.2])
    x = rng.normal(0, 1, n)
    y = (x + rng.normal(0, 0.3, n) > 0).astype(int)
    frame = pd.DataFrame({"x": x})

    class Model:
        classes_ = [0, 1]

        def __init__(self, flip_south: bool) -> None:
            self.flip = flip_south

        def predict_proba(self, f: pd.DataFrame) -> np.ndarray:
            p = 1 / (1 + np.exp(-3 * f["x"].to_numpy()))
            if self.flip:
                p = np.where(group[: len(p)] == "south", 1 - p, p)
            return np.column_stack([1 - p, p])

        def predict(self, f: pd.DataFrame) -> np.ndarray:
            return (self.predict_proba(f)[:, 1] > 0.5).astype(int)

    config = GateConfig(slice_column="region", tolerance=0.5)
    result = evaluate("classification", y, [Scorer("candidate", Model(True).predict, frame,
                                                   Model(True).predict_proba, [0, 1]),
                                            Scorer("champion", Model(False).predict, frame,
                                                   Model(False).predict_proba, [0, 1])],
                      slices=group, gate=config)
    checks = {c["name"]: c for c in gates(result, config)}
    assert checks["vs_champion"]["passed"]  # within the (loose) overall tolerance
    assert checks["slice:north"]["passed"]
    assert not checks["slice:south"]["passed"], checks["slice:south"]


def test_robustness_records_scales_perturbation_and_nulls(churn_data) -> None:
    _, test, good, _, _ = churn_data
    report = robustness("classification", _scorer("candidate", good, numeric_features(test)))
    assert report["scales"]["ratio"] > 100  # income vs tickets
    assert 0 <= report["perturbation"]["max"] < 0.2
    # A plain sklearn logistic regression refuses NaN: recorded per column, not raised.
    assert all(v.startswith("error: ValueError") for v in report["nulls"].values())


def test_broken_candidate_is_recorded_and_fails_the_gate() -> None:
    def explode(_frame):
        raise RuntimeError("weights do not fit this code")

    y = np.array([0, 1] * 50)
    result = evaluate("classification", y, [Scorer("candidate", explode, pd.DataFrame({"x": y}))])
    assert "weights do not fit" in result.robustness["errors"]["candidate"]
    (check,) = gates(result, GateConfig())
    assert check["name"] == "scored" and not check["passed"]


def test_a_candidate_trained_on_corrupted_labels_fails_its_guardrails() -> None:
    """40% of the training labels flipped: the ranking (ROC AUC) barely moves, the
    probabilities are ruined. The primary metric alone lets it through; the guardrails
    (log loss, Brier score) stop it, with their numbers. An honest retrain passes."""
    def fit(frame: pd.DataFrame, y) -> object:  # type: ignore[no-untyped-def]
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(
            numeric_features(frame), y)

    champion_data, retrain, test = churn(20000, seed=21), churn(20000, seed=22), churn(5000, seed=23)
    champion = fit(champion_data, champion_data["churned"])
    honest = fit(retrain, retrain["churned"])
    y = retrain["churned"].to_numpy()
    flipped = np.random.default_rng(24).random(len(y)) < 0.4
    corrupted = fit(retrain, np.where(flipped, 1 - y, y))
    X = numeric_features(test)
    config = GateConfig(tolerance=0.02)

    def run(candidate, gate: GateConfig) -> dict[str, dict]:  # type: ignore[no-untyped-def]
        result = evaluate("classification", test["churned"],
                          [_scorer("candidate", candidate, X), _scorer("champion", champion, X)],
                          gate=gate)
        return {c["name"]: c for c in gates(result, gate)}

    bad = run(corrupted, config)
    assert bad["vs_champion"]["passed"] and bad["beats_baseline"]["passed"]  # AUC holds
    for metric in ("log_loss", "brier"):
        check = bad[f"guardrail:{metric}:vs_champion"]
        assert not check["passed"], check
        assert check["metric"] == metric and check["value"] > 1.15 * check["reference"]
        assert check["threshold"] == pytest.approx(-0.05 * check["reference"])
        assert bad[f"guardrail:{metric}:vs_baseline"]["passed"]  # still better than priors
    # The same candidate with guardrails turned off passes: the guardrails made the call.
    assert all(c["passed"] for c in run(corrupted, GateConfig(tolerance=0.02, guardrails=())).values())
    good = run(honest, config)
    assert all(c["passed"] for c in good.values()), good
    assert {"guardrail:log_loss:vs_champion", "guardrail:brier:vs_baseline"} <= set(good)


def test_brier_score_matches_its_definition() -> None:
    from sklearn.metrics import brier_score_loss

    train, test = churn(4000, seed=1), churn(3000, seed=2)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        numeric_features(train), train["churned"])
    result = evaluate("classification", test["churned"],
                      [_scorer("candidate", model, numeric_features(test))], folds=1)
    expected = brier_score_loss(test["churned"], model.predict_proba(numeric_features(test))[:, 1])
    assert result.metrics["candidate"]["brier"] == pytest.approx(expected, rel=1e-9)
    # three classes: the sum over classes of the squared distance to the one-hot truth
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 600)
    frame = pd.DataFrame({"x": labels + rng.normal(0, 0.8, 600)})
    three = LogisticRegression().fit(frame, labels)
    result = evaluate("classification", labels, [_scorer("candidate", three, frame)], folds=1)
    proba = three.predict_proba(frame)
    by_hand = float(np.mean(np.sum((proba - np.eye(3)[labels]) ** 2, axis=1)))
    assert result.metrics["candidate"]["brier"] == pytest.approx(by_hand, rel=1e-6)


def test_regression_guardrails_default_to_the_other_error_metric() -> None:
    rng = np.random.default_rng(8)
    X = pd.DataFrame({"a": rng.normal(0, 1, 3000)})
    y = 2 * X["a"] + rng.normal(0, 0.3, 3000)
    model = LinearRegression().fit(X[:1500], y[:1500])
    result = evaluate("regression", y[1500:], [_scorer("candidate", model, X[1500:]),
                                               _scorer("champion", model, X[1500:])])
    names = {c["name"] for c in gates(result, GateConfig())}
    assert {"guardrail:mae:vs_champion", "guardrail:mae:vs_baseline"} <= names
    assert not any(n.startswith("guardrail:rmse") for n in names)  # rmse is the primary
