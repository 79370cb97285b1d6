"""The evaluation service without an MLflow server or Ray: each version is scored on its own
pinned features, joined point-in-time for the same rows; only the gate's pinned evaluation
set counts; artifacts are checked against their registered digest; the models see their
inputs, never the labels; every sandbox failure is a 4xx naming the version and the cause.

Models are real scikit-learn models saved as MLflow models, answered through the real
sandbox target (in-process here: tests/unit/test_sandbox.py runs the isolated ones)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _fakes import FakeEvaluationStore, InlineSandbox, saved_model
from sklearn.linear_model import LogisticRegression

from ferry_contract import (
    ColumnSpec,
    EvalSetCreate,
    EvaluationFailed,
    GateConfig,
    GateFailed,
    ModelVersionPublic,
    NotFound,
)
from ferry_platform.evaluation import EvaluationLimits, EvaluationService
from ferry_platform.sandbox import SandboxCrashed, SandboxOutOfMemory, SandboxTimeout

MODEL = "churn"


def _truth(n: int, seed: int) -> tuple[pd.Series, pd.Series]:
    """The hidden generator: churn follows spend, with noise."""
    rng = np.random.default_rng(seed)
    spend = pd.Series(rng.normal(50, 20, n))
    return spend, (spend + rng.normal(0, 5, n) > 50).astype(int)


def _fit(column: str) -> Any:
    spend, y = _truth(3000, seed=11)
    return LogisticRegression().fit(pd.DataFrame({column: spend}), y)


def fit_spend() -> Any:
    return _fit("spend")


def fit_spend_old() -> Any:
    return _fit("spend_old")


class Versions:
    """v2 reads feature ``stats@v2:spend``; v1 the older ``stats@v1:spend_old``."""

    def __init__(self) -> None:
        self.tampered: set[int] = set()

    def _saved(self, version: int) -> tuple[Path, str]:
        return saved_model(f"svc-v{version}", fit_spend if version == 2 else fit_spend_old)

    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        feature = "spend" if version == 2 else "spend_old"
        view = "stats@v2" if version == 2 else "stats@v1"
        return ModelVersionPublic(
            name=name, version=version, run_id="r", model_uri="m", framework="sklearn",
            model_digest=self._saved(version)[1], training_data_digest="t", code_version="c",
            signature=[ColumnSpec(name=feature, type="double")],
            feature_refs=[f"{view}:{feature}"])

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        local = Path(shutil.copytree(self._saved(version)[0], dst / "model"))
        if version in self.tampered:  # someone replaced the weights after registration
            (local / "model.pkl").write_bytes((local / "model.pkl").read_bytes() + b"\0")
        return local


class Features:
    def __init__(self, truth: pd.Series) -> None:
        self.truth = truth
        self.calls: list[list[str]] = []

    def training_set(self, features: list[str], entities: pd.DataFrame) -> Any:
        self.calls.append(features)
        column = features[0].split(":")[1]
        # v2's feature is the truth; v1's is a noisy older version of it
        noise = 0 if column == "spend" else np.random.default_rng(0).normal(0, 40, len(entities))
        frame = entities.assign(**{column: self.truth.to_numpy() + noise})
        return SimpleNamespace(frame=frame)


class Recording(InlineSandbox):
    """Keeps every payload the sandbox was given."""

    def __init__(self) -> None:
        super().__init__()
        self.payloads: list[dict[str, Any]] = []

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any:
        self.payloads.append(payload)
        return super().run(target, payload, timeout_s=timeout_s, memory_mb=memory_mb)


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any:
        raise self.error


def _rows(n: int = 1500, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    spend, y = _truth(n, seed)
    rows = pd.DataFrame({"customer_id": np.arange(n), "event_timestamp": "2026-01-01T00:00:00Z",
                         "y": y})
    return rows, spend


@pytest.fixture()
def setup():  # type: ignore[no-untyped-def]
    rows, spend = _rows()
    store = FakeEvaluationStore()
    store.set_champion(MODEL, 1)
    features, sandbox, versions = Features(spend), Recording(), Versions()
    service = EvaluationService(store, versions, features, sandbox=sandbox,
                                limits=EvaluationLimits(timeout_s=30, memory_mb=512))
    created = service.create_eval_set(MODEL, EvalSetCreate(rows=rows.to_dict("records"),
                                                           label="y"))
    service.set_gate_config(MODEL, GateConfig(eval_set_version=created.version))
    return SimpleNamespace(service=service, store=store, features=features, sandbox=sandbox,
                           versions=versions, rows=rows)


def test_each_version_meets_its_own_pinned_features_on_the_same_rows(setup) -> None:  # type: ignore[no-untyped-def]
    result = setup.service.evaluate(MODEL, 2)
    assert setup.features.calls == [["stats@v2:spend"], ["stats@v1:spend_old"]]
    assert result.against == 1 and result.eval_set_version == 1
    assert result.metrics["candidate"]["roc_auc"] > result.metrics["champion"]["roc_auc"] + 0.05
    assert result.passed and result.run_id
    # what was used is on the record: the set's digest and each model's checked digest
    assert result.eval_set_digest == setup.service.eval_sets(MODEL)[0].digest
    assert result.model_digests == {"candidate": setup.versions.get_version(MODEL, 2).model_digest,
                                    "champion": setup.versions.get_version(MODEL, 1).model_digest}
    # one sandbox run per version, with the limits; the models never see the labels
    assert [r[1:] for r in setup.sandbox.runs] == [(30, 512), (30, 512)]
    for payload in setup.sandbox.payloads:
        for frame in payload["frames"].values():
            assert "y" not in frame.columns and list(frame.columns) in (["spend"], ["spend_old"])
    assert setup.service.latest(MODEL, 2, 1) == result.model_copy(update={"run_id": result.run_id})


def test_only_the_pinned_eval_set_counts_until_an_admin_moves_the_pin(setup) -> None:  # type: ignore[no-untyped-def]
    service = setup.service
    service.evaluate(MODEL, 2)
    assert service.latest(MODEL, 2, 1) is not None
    # a new upload (here: labels flipped, to steer the gate) changes nothing for the gate
    steered = setup.rows.assign(y=1 - setup.rows["y"])
    second = service.create_eval_set(MODEL, EvalSetCreate(rows=steered.to_dict("records"),
                                                          label="y"))
    assert second.version == 2 and service.pinned_eval_set(MODEL) == 1
    assert service.latest(MODEL, 2, 1) is not None
    again = service.evaluate(MODEL, 2)
    assert again.eval_set_version == 1 and again.passed
    # evaluating on the new set explicitly is allowed, for information; the gate ignores it
    other = service.evaluate(MODEL, 2, eval_set_version=2)
    assert other.eval_set_version == 2 and not other.passed
    assert service.latest(MODEL, 2, 1).eval_set_version == 1  # type: ignore[union-attr]
    # once an admin moves the pin (PUT gate), the gate goes by the evaluation on v2
    service.set_gate_config(MODEL, GateConfig(eval_set_version=2))
    assert service.latest(MODEL, 2, 1) == other.model_copy(update={"run_id": other.run_id})
    with pytest.raises(GateFailed, match="failed its gate"):
        service.require_passed(MODEL, 2, service.latest(MODEL, 2, 1), "become champion")
    # as does a change of the gate's thresholds
    service.set_gate_config(MODEL, GateConfig(eval_set_version=1))
    assert service.latest(MODEL, 2, 1) is not None
    service.set_gate_config(MODEL, GateConfig(eval_set_version=1, tolerance=0.02))
    assert service.latest(MODEL, 2, 1) is None
    with pytest.raises(NotFound, match="no evaluation set v9"):
        service.set_gate_config(MODEL, GateConfig(eval_set_version=9))


def test_without_a_pin_the_gate_refuses_naming_how_to_pin(setup) -> None:  # type: ignore[no-untyped-def]
    service = setup.service
    service.set_gate_config(MODEL, GateConfig())
    with pytest.raises(GateFailed, match=r"no evaluation set pinned.*eval_set_version=1"):
        service.require_pinned(MODEL, 2, "become champion")
    empty = EvaluationService(FakeEvaluationStore(), setup.versions, sandbox=InlineSandbox())
    with pytest.raises(GateFailed, match="has no evaluation set"):
        empty.require_pinned("other", 2, "become champion")
    with pytest.raises(NotFound, match="has no evaluation set"):
        empty.compare("other", 1, 2)


def test_swapped_artifacts_are_refused_before_anything_is_loaded(setup) -> None:  # type: ignore[no-untyped-def]
    setup.versions.tampered.add(1)
    with pytest.raises(EvaluationFailed, match=r"churn v1 \(champion\) is not the model that "
                                               "was registered") as exc:
        setup.service.evaluate(MODEL, 2)
    assert exc.value.details["cause"] == "digest" and exc.value.status == 422
    assert setup.sandbox.runs == []  # nothing reached a sandbox


def test_changed_eval_set_rows_are_refused(setup) -> None:  # type: ignore[no-untyped-def]
    meta, frame = setup.store._sets[MODEL][0]
    frame.loc[0, "y"] = 1 - frame.loc[0, "y"]
    with pytest.raises(EvaluationFailed, match="is not what was uploaded"):
        setup.service.evaluate(MODEL, 2)


@pytest.mark.parametrize("error,cause,says", [
    (SandboxOutOfMemory("MemoryError: more than 512 MB were needed"), "memory",
     "ran out of memory.*FERRY_EVALUATION_MEMORY_MB"),
    (SandboxTimeout("no answer within 30s; stopped"), "timeout", "within 30s.*FERRY_EVALUATION"),
    (SandboxCrashed("killed by SIGSEGV"), "crashed", "sandbox process died.*SIGSEGV"),
])
def test_sandbox_failures_are_4xx_naming_version_and_cause(setup, error, cause, says) -> None:  # type: ignore[no-untyped-def]
    service = EvaluationService(setup.store, setup.versions, setup.features,
                                sandbox=Failing(error),
                                limits=EvaluationLimits(timeout_s=30, memory_mb=512))
    with pytest.raises(EvaluationFailed, match=rf"churn v2 \(candidate\).*{says}") as exc:
        service.evaluate(MODEL, 2)
    assert exc.value.status == 422
    assert exc.value.details == {"model": MODEL, "version": 2, "role": "candidate",
                                 "cause": cause}
    assert "Traceback" not in exc.value.message
