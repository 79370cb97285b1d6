"""One behavioural suite for :class:`ModelRegistry`, run on the fake the control-plane tests
use and on MlflowRegistry over a throwaway MLflow (SQLite): a logged model registers as
the next version of its own model only, with the lineage it was logged with and a digest
of the files it downloads as; anything else (another model's logged model, an unknown id,
a path) is refused with one answer; unknown models and versions fail the same way. A fake
that registered anything, or forgot what it was given, fails here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fakes import FakeRegistry

from ferry_contract import (
    DatasetLineage,
    InvalidRequest,
    LoggedModelCreate,
    ModelNotFound,
    ModelVersionCreate,
    VersionNotFound,
)
from ferry_platform.core import directory_digest
from ferry_platform.registry import MlflowRegistry, ModelRegistry


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn model saved by MLflow with its signature (what register() uploads)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.integers(0, 9, 200)})
    y = (X.a + rng.normal(scale=0.3, size=200) > 0).astype(int)
    path = tmp_path_factory.mktemp("contract-model") / "model"
    mlflow.sklearn.save_model(LogisticRegression().fit(X, y), str(path),
                              signature=infer_signature(X, y), pip_requirements=["scikit-learn"])
    return path


@pytest.fixture(scope="module")
def mlflow_registry(tmp_path_factory: pytest.TempPathFactory) -> MlflowRegistry:
    root = tmp_path_factory.mktemp("registry-contract")
    return MlflowRegistry(f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts"))


@pytest.fixture(params=["fake", "mlflow"])
def registry(request: pytest.FixtureRequest) -> Iterator[ModelRegistry]:
    if request.param == "fake":
        yield FakeRegistry({})
    else:
        yield request.getfixturevalue("mlflow_registry")


def lineage(code: str = "git:abc123", digest: str = "d1") -> LoggedModelCreate:
    return LoggedModelCreate(
        framework="sklearn", code_version=code, params={"c": "0.5"}, metrics={"auc": 0.8},
        dataset=DatasetLineage(name="train", digest=digest, source_type="code", source="{}"),
        feature_refs=["stats@v2:x"])


def fresh(registry: ModelRegistry) -> str:
    name = f"contract-{uuid.uuid4().hex[:8]}"
    registry.ensure_model(name, "a model of the suite")
    return name


def test_a_logged_model_registers_as_the_next_version_with_its_lineage(
        registry: ModelRegistry, model_dir: Path, tmp_path: Path) -> None:
    name = fresh(registry)
    assert registry.get_model(name).latest_version is None
    first = registry.log_model(name, model_dir, lineage("git:aaa", "d1"), actor="kim")
    second = registry.log_model(name, model_dir, lineage("git:bbb", "d2"), actor="kim")
    v1 = registry.register_version(name, ModelVersionCreate(model_uri=first.model_uri))
    v2 = registry.register_version(name, ModelVersionCreate(model_uri=second.model_uri,
                                                           run_id=second.run_id))
    assert (v1.version, v2.version) == (1, 2)
    assert registry.get_model(name).latest_version == 2
    assert [v.version for v in registry.list_versions(name)] == [1, 2]
    got = registry.get_version(name, 2)
    assert (got.framework, got.code_version, got.training_data_digest) == \
        ("sklearn", "git:bbb", "d2")
    assert got.feature_refs == ["stats@v2:x"]
    assert [c.name for c in got.signature] == ["a", "b"]
    assert registry.get_version(name, 1).code_version == "git:aaa"
    # the digest is that of the files the version downloads as
    downloaded = registry.download_version(name, 2, tmp_path)
    assert (downloaded / "MLmodel").exists()
    assert got.model_digest == directory_digest(downloaded)
    assert name in [m.name for m in registry.list_models()]


def test_anything_but_its_own_logged_model_is_refused_alike(
        registry: ModelRegistry, model_dir: Path) -> None:
    mine, theirs = fresh(registry), fresh(registry)
    logged = registry.log_model(mine, model_dir, lineage())
    other = registry.log_model(theirs, model_dir, lineage())
    messages = set()
    for create in (ModelVersionCreate(model_uri=other.model_uri),            # another model's
                   ModelVersionCreate(model_uri=f"models:/m-{'0' * 32}"),   # unknown id
                   ModelVersionCreate(model_uri=str(model_dir)),            # a path
                   ModelVersionCreate(model_uri=logged.model_uri, run_id=other.run_id)):
        with pytest.raises(InvalidRequest) as refused:
            registry.register_version(mine, create)
        assert repr(create.model_uri) in refused.value.message
        messages.add(refused.value.message.replace(repr(create.model_uri), "<uri>")
                     .split(" with run_id")[0].split(" is not")[0])
    assert len(messages) == 1
    assert registry.list_versions(mine) == []
    assert registry.register_version(mine, ModelVersionCreate(
        model_uri=logged.model_uri)).version == 1


def test_unknown_models_and_versions_are_named(registry: ModelRegistry, model_dir: Path) -> None:
    with pytest.raises(ModelNotFound, match="not registered"):
        registry.get_model("contract-never")
    with pytest.raises(ModelNotFound):
        registry.list_versions("contract-never")
    with pytest.raises(ModelNotFound):
        registry.log_model("contract-never", model_dir, lineage())
    name = fresh(registry)
    with pytest.raises(VersionNotFound):
        registry.get_version(name, 1)


def test_a_model_without_a_signature_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    import mlflow.sklearn
    from sklearn.dummy import DummyClassifier

    bare = tmp_path / "bare"
    mlflow.sklearn.save_model(DummyClassifier().fit([[0], [1]], [0, 1]), str(bare),
                              pip_requirements=["scikit-learn"])
    with pytest.raises(InvalidRequest, match="signature"):
        registry.log_model(fresh(registry), bare, lineage())
