"""Registration through the SDK into real MLflow (SQLite), via the real control-plane app."""

from __future__ import annotations

import mlflow
import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from mlflow import MlflowClient

import ferry


@pytest.fixture(scope="module")
def registered(registry_client):  # type: ignore[no-untyped-def]
    model = sklearn_pipeline()
    mv = registry_client.register(model, name="reg-churn", training_data=training_frame(),
                                  target="churned", params={"C": 1.0, "solver": "lbfgs"},
                                  metrics={"cv_auc": 0.81}, code_version="git:abc123")
    return mv


def test_version_carries_its_lineage(registered, settings) -> None:  # type: ignore[no-untyped-def]
    mv = registered
    assert mv.framework == "sklearn" and mv.code_version == "git:abc123"
    assert mv.model_digest.startswith("sha256:") and len(mv.model_digest) == 71
    assert [c.name for c in mv.signature] == FEATURES
    assert {c.name: c.type for c in mv.signature}["plan"] == "string"

    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    run = client.get_run(mv.run_id)
    assert run.data.params == {"C": "1.0", "solver": "lbfgs"}
    assert run.data.metrics["cv_auc"] == pytest.approx(0.81)
    assert run.data.metrics["training_rows"] == 3000
    assert 0.5 < run.data.metrics["training_score"] <= 1.0
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.digest == mv.training_data_digest
    assert inputs[0].tags[0].value == "training"
    version = client.get_model_version("reg-churn", str(mv.version))
    assert version.tags["ferry.model_digest"] == mv.model_digest
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "ferry/reg-churn"
    assert exp.artifact_location.startswith(settings.mlflow_artifact_root)


def test_registered_model_predicts_like_the_original(registered, settings) -> None:  # type: ignore[no-untyped-def]
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/reg-churn/{registered.version}")
    rows = training_frame(seed=12)[FEATURES]
    assert loaded.predict(rows).tolist() == sklearn_pipeline().predict(rows).tolist()


def test_versions_are_listed_and_unknown_ones_named(registry_client, registered) -> None:  # type: ignore[no-untyped-def]
    assert registered.version in [v.version for v in registry_client.versions("reg-churn")]
    with pytest.raises(ferry.VersionNotFound, match="known versions"):
        registry_client.version("reg-churn", 999)
    with pytest.raises(ferry.ModelNotFound, match="'no-such-model' is not registered"):
        registry_client.versions("no-such-model")


def test_bad_registrations_are_refused_before_logging(registry_client) -> None:  # type: ignore[no-untyped-def]
    model = sklearn_pipeline()
    with pytest.raises(ferry.InvalidRequest, match="lower-case"):
        registry_client.register(model, name="Bad_Name", training_data=training_frame())
    with pytest.raises(ferry.InvalidRequest, match="DataFrame"):
        registry_client.register(model, name="reg-x", training_data=[[1, 2]])
    with pytest.raises(ferry.InvalidRequest, match="target column 'label'"):
        registry_client.register(model, name="reg-x", training_data=training_frame(),
                                 target="label")
    with pytest.raises(ferry.InvalidRequest, match="cannot tell the framework"):
        registry_client.register(object(), name="reg-x", training_data=training_frame())


def test_api_refuses_a_uri_that_is_not_a_model(registry_client, registered) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ferry.InvalidRequest, match="cannot be read"):
        registry_client._request("POST", "/v1/models/reg-churn/versions", json={
            "model_uri": "models:/m-doesnotexist", "run_id": registered.run_id,
            "framework": "sklearn", "training_data_digest": "x", "code_version": "y"})


def test_the_catalog_answers_reads_and_picks_up_what_mlflow_got_directly(  # type: ignore[no-untyped-def]
        registered, registry_client, platform_core, settings) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    # reads never create experiments (they used to, as a side effect)
    experiments = len(client.search_experiments())
    registry_client.models()
    registry_client.model("reg-churn")
    assert len(client.search_experiments()) == experiments

    # a version registered in MLflow by hand, not through Ferry
    source = client.get_model_version("reg-churn", str(registered.version)).source
    direct = client.create_model_version("reg-churn", source=source, run_id=registered.run_id,
                                         tags={"ferry.framework": "sklearn"})
    got = registry_client.version("reg-churn", int(direct.version))  # a catalog miss
    assert got.version == int(direct.version) and got.framework == "sklearn"
    # and a model only MLflow knows is imported by the sync every start runs
    client.create_registered_model("reg-outside")
    client.create_model_version("reg-outside", source=source, tags={})
    assert "reg-outside" not in [m.name for m in registry_client.models()]
    assert platform_core.registry.sync() >= 1
    assert "reg-outside" in [m.name for m in registry_client.models()]
    assert [v.version for v in registry_client.versions("reg-outside")] == [1]
