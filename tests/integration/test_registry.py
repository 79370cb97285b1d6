"""Registration through the SDK into real MLflow (SQLite), via the real control-plane app."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture(scope="module")
def theirs(registry_client):  # type: ignore[no-untyped-def]
    """A model of another team, logged and registered."""
    registry_client.create_team("reg-theirs-team")
    return registry_client.log_model(sklearn_pipeline(c=0.5), name="reg-theirs",
                                     training_data=training_frame(), target="churned",
                                     team="reg-theirs-team")


def test_platform_info_never_carries_a_tracking_uri(registry_client, settings) -> None:  # type: ignore[no-untyped-def]
    body = registry_client._request("GET", "/v1/platform")
    assert not [k for k in body if "mlflow" in k or "tracking" in k]
    text = str(body)
    assert settings.mlflow_tracking_uri not in text and "sqlite" not in text
    assert settings.database_url not in text


def test_model_uri_outside_the_models_experiment_is_refused_alike(  # type: ignore[no-untyped-def]
        registry_client, registered, theirs, settings, tmp_path) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    own = client.get_logged_model(registered.model_uri.removeprefix("models:/"))
    existing = next(Path(settings.mlflow_artifact_root, "reg-churn").rglob("MLmodel"))
    missing = tmp_path / "no-such-model"
    uris = [
        str(existing), str(existing.parent), str(missing),                  # local paths
        f"file://{existing.parent}", f"file://{missing}",                 # file:// URIs
        f"{own.artifact_location}",                                        # its own storage
        f"runs:/{registered.run_id}/model", f"runs:/{'0' * 32}/model",     # runs:/
        "s3://ferry-artifacts/mlflow/reg-churn", "s3://elsewhere/model",   # s3://
        "http://127.0.0.1:1/model", "https://example.invalid/model",       # http(s)://
        "models:/reg-churn/1", "models:/reg-churn@champion",               # name/version
        "models:/reg-theirs/1",
        theirs.model_uri,                                                  # another team's
        f"models:/m-{'0' * 32}", "models:/m-nothex", "mlflow-artifacts:/x",  # unknown ids
    ]
    before = [v.version for v in registry_client.versions("reg-churn")]
    messages = {}
    for uri in uris:
        r = registry_client._http.post("/v1/models/reg-churn/versions", json={"model_uri": uri})
        assert r.status_code == 400, (uri, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_request" and repr(uri) in err["message"]
        messages[uri] = err["message"].replace(repr(uri), "<uri>")
    assert len(set(messages.values())) == 1, messages  # existing or not, one answer
    # its own model with a run that is not its run: refused alike too
    for run_id in (theirs.run_id, "0" * 32):
        r = registry_client._http.post("/v1/models/reg-churn/versions", json={
            "model_uri": registered.model_uri, "run_id": run_id})
        assert r.status_code == 400 and repr(run_id) in r.json()["error"]["message"]
    assert [v.version for v in registry_client.versions("reg-churn")] == before


def test_lineage_comes_from_the_run_the_control_plane_wrote(registry_client, theirs) -> None:  # type: ignore[no-untyped-def]
    r = registry_client._http.post("/v1/models/reg-theirs/versions", json={
        "model_uri": theirs.model_uri, "framework": "xgboost", "code_version": "forged"})
    assert r.status_code == 400 and "framework" in r.json()["error"]["message"]
    mv = registry_client._request("POST", "/v1/models/reg-theirs/versions",
                                  json={"model_uri": theirs.model_uri})
    assert mv["framework"] == "sklearn" and mv["code_version"] != "forged"
    assert mv["run_id"] == theirs.run_id and mv["model_uri"] == theirs.model_uri


def test_an_uploaded_model_is_never_loaded_by_the_control_plane(  # type: ignore[no-untyped-def]
        registry_client, tmp_path) -> None:
    import io
    import json
    import pickle
    import tarfile

    import yaml

    marker = tmp_path / "the-control-plane-ran-model-code"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            import os

            return (os.system, (f"touch {marker}",))

    signature = {"inputs": json.dumps([{"type": "double", "name": "x", "required": True}]),
                 "outputs": json.dumps([{"type": "long", "required": True}])}
    mlmodel = {"flavors": {
        "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl",
                            "predict_fn": "predict", "env": {"virtualenv": "python_env.yaml"}},
        "sklearn": {"pickled_model": "model.pkl", "serialization_format": "cloudpickle",
                    "sklearn_version": "1.0"}}, "signature": signature}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("MLmodel", yaml.safe_dump(mlmodel).encode()),
                           ("model.pkl", pickle.dumps(Payload()))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    lineage = {"framework": "sklearn", "code_version": "test", "dataset": {
        "name": "d", "digest": "abc123", "source_type": "code", "source": "{}"}}
    registry_client._request("PUT", "/v1/models/reg-unloaded", json={})
    logged = registry_client._request(
        "POST", "/v1/models/reg-unloaded/logged-models",
        files={"archive": ("model.tar.gz", buf.getvalue(), "application/gzip")},
        data={"lineage": json.dumps(lineage)})
    mv = registry_client._request("POST", "/v1/models/reg-unloaded/versions",
                                  json={"model_uri": logged["model_uri"]})
    assert mv["model_digest"].startswith("sha256:") and mv["signature"][0]["name"] == "x"
    assert mv["training_data_digest"] == "abc123"
    assert not marker.exists()


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
