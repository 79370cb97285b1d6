"""Continuous evaluation through the API with the real MLflow (no Ray; models run in a child
process sandbox): evaluation sets pinned in the gate, candidate vs champion vs baseline,
guardrails, the gate at champion time, comparisons, overrides, artifacts checked against
their registered digest.

Models come from a hidden generator with wide margins: a good model, a weak one (only the
weakest features) and one that guesses from the class priors."""

from __future__ import annotations

from pathlib import Path

import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from _synth import churn
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

import ferry

MODEL = "eval-churn"


def weak_model():  # type: ignore[no-untyped-def]
    """Sees only income and tickets: a real, worse model behind the same signature."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    train = training_frame()
    keep = ColumnTransformer([("keep", "passthrough", ["income", "tickets"])])
    return make_pipeline(keep, LogisticRegression(max_iter=1000)).fit(train[FEATURES],
                                                                      train["churned"])


@pytest.fixture(scope="module")
def models(registry_client):  # type: ignore[no-untyped-def]
    c = registry_client
    train = training_frame()
    weak = weak_model()
    guess = DummyClassifier(strategy="stratified", random_state=0).fit(train[FEATURES],
                                                                        train["churned"])
    v_weak = c.register(weak, name=MODEL, training_data=train, target="churned").version
    v_good = c.register(sklearn_pipeline(), name=MODEL, training_data=train,
                        target="churned").version
    v_guess = c.register(guess, name=MODEL, training_data=train, target="churned").version
    rows = churn(2000, seed=31)
    c.create_eval_set(MODEL, rows, label="churned", slice_column="plan", pin=True)
    return {"weak": v_weak, "good": v_good, "guess": v_guess}


def test_an_eval_set_is_versioned_and_checked(registry_client, models) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    [first] = c.eval_sets(MODEL)
    assert first.version == 1 and first.rows == 2000 and first.task == "classification"
    assert first.slice_column == "plan" and len(first.digest) == 16
    assert c.gate(MODEL).eval_set_version == 1  # pinned by its (admin) uploader
    with pytest.raises(ferry.InvalidRequest, match="'outcome'"):
        c.create_eval_set(MODEL, churn(50, seed=1), label="outcome")
    with pytest.raises(ferry.ModelNotFound):
        c.create_eval_set("no-such-model", churn(50, seed=1), label="churned")


def test_better_passes_worse_and_trivial_are_refused(registry_client, models) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    first = c.evaluate(MODEL, models["weak"])
    assert first.against is None and first.passed  # no champion yet; beats the baseline
    assert first.metrics["baseline"]["roc_auc"] == pytest.approx(0.5)
    c.set_champion(MODEL, models["weak"])
    assert c.model(MODEL).aliases["champion"] == models["weak"]

    better = c.evaluate(MODEL, models["good"])
    assert better.against == models["weak"] and better.passed, better.gates
    assert better.metrics["candidate"]["roc_auc"] > better.metrics["champion"]["roc_auc"] + 0.05
    assert {"beats_baseline", "vs_champion", "slice:basic", "slice:pro",
            "guardrail:log_loss:vs_champion", "guardrail:brier:vs_baseline"} <= \
        {g.name for g in better.gates}
    log_loss = next(g for g in better.gates if g.name == "guardrail:log_loss:vs_champion")
    assert log_loss.value == better.metrics["candidate"]["log_loss"]
    assert log_loss.reference == better.metrics["champion"]["log_loss"]
    assert better.eval_set_version == 1 and better.eval_set_digest == c.eval_sets(MODEL)[0].digest
    assert set(better.model_digests) == {"candidate", "champion"}
    assert better.per_class["candidate"]["1"]["support"] > 0
    assert better.robustness["candidate"]["scales"]["ratio"] > 100
    c.set_champion(MODEL, models["good"])

    # the weak model against the good champion: refused, naming the metric and numbers
    with pytest.raises(ferry.GateFailed, match=r"roc_auc 0\.\d+ vs champion 0\.\d+") as exc:
        c.set_champion(MODEL, models["weak"])
    failed = {f["name"] for f in exc.value.details["failed"]}
    assert "vs_champion" in failed
    # a model no better than guessing is refused against the baseline too
    with pytest.raises(ferry.GateFailed, match="baseline"):
        c.set_champion(MODEL, models["guess"])
    assert c.model(MODEL).aliases["champion"] == models["good"]


def test_compare_shows_both_versions_and_the_baseline(registry_client, models) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    found = c.compare(MODEL, models["weak"], models["good"])
    assert found.version == models["good"] and found.against == models["weak"]
    assert set(found.metrics) == {"candidate", "champion", "baseline"}
    assert found.passed
    stored = c.evaluations(MODEL, models["good"])
    assert any(e.run_id == found.run_id for e in stored)
    r = c._http.get(f"/v1/models/{MODEL}/compare",
                    params={"base": models["guess"], "candidate": models["weak"]})
    assert r.status_code == 404 and "ferry eval run" in r.json()["error"]["message"]


def test_admins_may_override_with_a_reason_and_it_is_audited(registry_client, models) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    with pytest.raises(ferry.InvalidRequest, match="reason"):
        c.set_champion(MODEL, models["guess"], reason="short")
    model = c.set_champion(MODEL, models["guess"],
                           reason="INC-42: the good model leaks; guessing is safer for a day")
    assert model.aliases["champion"] == models["guess"]
    audit = c.audit(limit=20)
    override = next(e for e in audit if e.action == "gate.override")
    assert "INC-42" in str(override.details)
    c.set_champion(MODEL, models["good"])  # back through the gate


def test_a_new_version_is_evaluated_on_registration(registry_client, models) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    v = c.register(weak_model(), name=MODEL, training_data=training_frame(),
                   target="churned").version
    [job] = [j for j in c.jobs(limit=20) if j.kind == "evaluate" and j.target == MODEL
             and j.request.get("version") == v]
    done = c.wait(job, timeout_s=120)
    assert done.result["version"] == v and done.result["against"] == models["good"]
    assert not done.result["passed"]  # the weak model against the good champion
    assert any(e.version == v for e in c.evaluations(MODEL, v))


def test_a_new_eval_set_does_not_move_the_gate_until_an_admin_pins_it(registry_client, models) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    flipped = churn(500, seed=32)
    flipped["churned"] = 1 - flipped["churned"]  # a set on which the weak model would shine
    second = c.create_eval_set(MODEL, flipped, label="churned")
    assert second.version == 2 and c.gate(MODEL).eval_set_version == 1
    with pytest.raises(ferry.GateFailed, match="vs champion"):
        c.set_champion(MODEL, models["weak"])
    info = c.evaluate(MODEL, models["weak"], eval_set_version=2)  # for information
    assert info.eval_set_version == 2
    assert c.gate(MODEL).eval_set_version == 1 and c.model(MODEL).aliases["champion"] == \
        models["good"]
    with pytest.raises(ferry.NotFound, match="no evaluation set v7"):
        c.set_gate(MODEL, eval_set_version=7)


def test_swapped_artifacts_are_refused_before_loading(registry_client, platform_core) -> None:  # type: ignore[no-untyped-def]
    c = registry_client
    mv = c.register(weak_model(), name=MODEL, training_data=training_frame(), target="churned")
    [job] = [j for j in c.jobs(limit=20) if j.kind == "evaluate" and j.target == MODEL
             and j.request.get("version") == mv.version]
    c.wait(job, timeout_s=600)
    # someone with write access to the artifact store replaces the weights
    files = [p for p in Path(mv.artifact_uri).rglob("*") if p.is_file() and p.name != "MLmodel"]
    biggest = max(files, key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes() + b"\0")
    with pytest.raises(ferry.EvaluationFailed, match=rf"{MODEL} v{mv.version} \(candidate\) is "
                                                     "not the model that was registered") as exc:
        c.evaluate(MODEL, mv.version)
    assert exc.value.details["cause"] == "digest" and mv.model_digest in exc.value.message
