"""One behavioural suite for :class:`EvaluationStore`, run on the in-memory fake the
control-plane tests use and on MlflowEvaluationStore over a throwaway MLflow (SQLite): what
is saved is what is returned, newest first, filtered the same way; unknown models fail the
same way. A fake that passed everything, or forgot what it stored, fails here."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from _fakes import FakeEvaluationStore

from ferry_contract import EvaluationPublic, GateConfig, InvalidRequest, ModelNotFound, NotFound
from ferry_platform.registry import MlflowEvaluationStore, MlflowRegistry

Register = Callable[[list[int]], str]


@pytest.fixture(scope="module")
def mlflow_registry(tmp_path_factory: pytest.TempPathFactory) -> MlflowRegistry:
    root = tmp_path_factory.mktemp("eval-store")
    return MlflowRegistry(f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts"))


@pytest.fixture(params=["fake", "mlflow"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[object, Register]]:
    """The store, and a function registering a new model with some versions (its name)."""
    if request.param == "fake":
        known: set[str] = set()

        def known_model(name: str) -> None:
            if name not in known:
                raise ModelNotFound(f"model {name!r} is not registered")

        def register_fake(versions: list[int]) -> str:
            name = f"m-{uuid.uuid4().hex[:8]}"
            known.add(name)
            return name

        yield FakeEvaluationStore(known_model), register_fake
        return
    registry: MlflowRegistry = request.getfixturevalue("mlflow_registry")

    def register_mlflow(versions: list[int]) -> str:
        name = f"m-{uuid.uuid4().hex[:8]}"
        registry.ensure_model(name)
        for _ in versions:
            registry._client.create_model_version(name, source=str(tmp_path / "model"))
        return name

    yield MlflowEvaluationStore(registry), register_mlflow


def _frame(seed: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [seed + i * 0.5 for i in range(12)],
                         "plan": ["basic", "pro"] * 6, "y": [0, 1, 1] * 4,
                         "flag": [True, False] * 6})


def _meta(frame: pd.DataFrame, digest: str) -> dict[str, object]:
    return {"label": "y", "task": "classification", "slice_column": "plan", "digest": digest,
            "rows": len(frame), "columns": list(frame.columns), "start": None,
            "end": "2026-01-01T00:00:00+00:00", "created_at": datetime.now(UTC).isoformat()}


def _evaluation(model: str, version: int, against: int | None, eval_set: int,
                passed: bool) -> dict[str, object]:
    return EvaluationPublic(
        model=model, version=version, against=against, eval_set_version=eval_set,
        eval_set_digest="abc", model_digests={"candidate": "sha256:1"},
        task="classification", primary_metric="roc_auc", rows=12, folds=1,
        metrics={"candidate": {"roc_auc": 0.8 + version / 100, "log_loss": None},
                 "baseline": {"roc_auc": 0.5}},
        gates=[{"name": "beats_baseline", "passed": passed, "detail": "numbers"}],
        passed=passed, gate=GateConfig(eval_set_version=eval_set),
        created_at=datetime.now(UTC)).model_dump(mode="json")


def test_eval_sets_are_versioned_and_given_back_as_stored(store) -> None:  # type: ignore[no-untyped-def]
    s, register = store
    model = register([1])
    assert s.eval_sets(model) == []
    first = s.save_eval_set(model, _frame(1), _meta(_frame(1), "d1"))
    second = s.save_eval_set(model, _frame(2), _meta(_frame(2), "d2"))
    assert (first["version"], second["version"]) == (1, 2)
    assert first["model"] == model and first["run_id"] and first["run_id"] != second["run_id"]
    listed = s.eval_sets(model)
    assert [m["version"] for m in listed] == [2, 1]
    assert listed[1] == first and listed[0] == second
    assert {k: listed[0][k] for k in ("label", "task", "slice_column", "digest", "rows",
                                      "columns", "start", "end")} == \
        {"label": "y", "task": "classification", "slice_column": "plan", "digest": "d2",
         "rows": 12, "columns": ["x", "plan", "y", "flag"], "start": None,
         "end": "2026-01-01T00:00:00+00:00"}
    meta, rows = s.eval_set(model)
    assert meta == second
    pd.testing.assert_frame_equal(rows, _frame(2))
    meta, rows = s.eval_set(model, 1)
    assert meta == first
    pd.testing.assert_frame_equal(rows, _frame(1))
    with pytest.raises(NotFound):
        s.eval_set(model, 9)


def test_rows_that_are_not_a_table_are_refused(store) -> None:  # type: ignore[no-untyped-def]
    s, register = store
    model = register([1])
    bad = pd.DataFrame({"x": [{"nested": 1}, 2] * 6, "y": [0, 1] * 6})
    with pytest.raises(InvalidRequest, match="cannot be stored as a table"):
        s.save_eval_set(model, bad, _meta(bad, "d"))
    assert s.eval_sets(model) == []


def test_evaluations_come_back_newest_first_and_filtered(store) -> None:  # type: ignore[no-untyped-def]
    s, register = store
    model = register([1, 2, 3])
    saved = []
    for version, against, eval_set, passed in [(1, None, 1, True), (2, 1, 1, True),
                                              (3, 2, 1, False), (3, 2, 2, True)]:
        result = _evaluation(model, version, against, eval_set, passed)
        run_id = s.save_evaluation(model, result)
        saved.append({**result, "run_id": run_id})
        time.sleep(0.01)  # MLflow orders by start time, in milliseconds
    assert s.evaluations(model) == saved[::-1]
    assert s.evaluations(model, version=3) == [saved[3], saved[2]]
    assert s.evaluations(model, version=3, against=2, eval_set=1) == [saved[2]]
    assert s.evaluations(model, version=2, against=1) == [saved[1]]
    assert s.evaluations(model, version=1, against=2) == []
    assert s.evaluations(model, eval_set=1, limit=2) == [saved[2], saved[1]]
    assert not s.evaluations(model, version=3, eval_set=1)[0]["passed"]
    assert s.evaluations(register([1])) == []


def test_gate_and_champion_keep_what_was_set(store) -> None:  # type: ignore[no-untyped-def]
    s, register = store
    model = register([1, 2])
    assert s.gate(model) == {} and s.champion(model) is None
    gate = GateConfig(tolerance=0.02, eval_set_version=3,
                      guardrails=[{"metric": "log_loss", "tolerance": 0.1}]).model_dump(mode="json")
    s.set_gate(model, gate)
    assert s.gate(model) == gate
    s.set_champion(model, 2)
    assert s.champion(model) == 2
    s.set_champion(model, 1)
    assert s.champion(model) == 1


def test_unknown_models_fail_the_same_way(store) -> None:  # type: ignore[no-untyped-def]
    s, _ = store
    with pytest.raises(ModelNotFound):
        s.save_eval_set("no-such-model", _frame(1), _meta(_frame(1), "d"))
    assert s.eval_sets("no-such-model") == []
    with pytest.raises(NotFound):
        s.eval_set("no-such-model")
    with pytest.raises(ModelNotFound):
        s.gate("no-such-model")
    with pytest.raises(ModelNotFound):
        s.set_gate("no-such-model", {})
    with pytest.raises(ModelNotFound):
        s.champion("no-such-model")
