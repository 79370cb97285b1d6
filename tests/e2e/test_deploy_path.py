"""The data scientist's path end to end: register -> deploy (REST + gRPC, replicas) ->
predict -> upgrade -> failed upgrade -> undeploy, on a real local Ray Serve.

Predictions are compared row by row with the registered model's own."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest
from _grpc import raw_predict
from _models import FEATURES, lightgbm_model, sklearn_pipeline, training_frame

import ferry
from ferry_contract import RELEASE_HEADER
from ferry_platform.serving import ferry_replica_actor_names

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def v1(client):  # type: ignore[no-untyped-def]
    return client.register(sklearn_pipeline(), name="e2e-churn", training_data=training_frame(),
                           target="churned", params={"C": 1.0})


@pytest.fixture(scope="module")
def deployed(client, v1):  # type: ignore[no-untyped-def]
    dep = client.deploy("e2e-churn", version=v1.version, replicas=2)
    yield dep
    dep.close()


def rows(seed: int = 21, n: int = 40):  # type: ignore[no-untyped-def]
    return training_frame(seed)[FEATURES].head(n)


def replicas_of(app: str, release: str | None = None) -> list[str]:
    """Replica actors of ``app``'s releases (of one release if given; routers excluded)."""
    prefix = f"SERVE_REPLICA::{app}.{release}#" if release else f"SERVE_REPLICA::{app}."
    return [a for a in ferry_replica_actor_names() if a.startswith(prefix)]


def routers_of(app: str) -> list[str]:
    return [a for a in ferry_replica_actor_names() if a.startswith(f"SERVE_REPLICA::{app}#")]


def wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_deploy_serves_the_models_predictions_over_both_protocols(deployed, v1) -> None:  # type: ignore[no-untyped-def]
    want = sklearn_pipeline().predict(rows()).tolist()
    assert 0 < sum(want) < len(want)  # both classes present: a constant answer would fail
    for protocol in ("rest", "grpc"):
        got = deployed.predict(rows(), protocol=protocol)
        assert got.predictions == want, protocol
        assert got.release_id == deployed.release_id
        assert got.release_id.startswith(f"e2e-churn-v{v1.version}-")
    assert deployed.info.replicas == 2 and deployed.info.status == "running"
    assert len(replicas_of("e2e-churn")) == 2


def test_release_id_is_on_every_answer_even_errors(deployed, auth, admin_token) -> None:  # type: ignore[no-untyped-def]
    url = f"{deployed.info.endpoints.rest}/predict"
    ok = httpx.post(url, json={"inputs": rows(n=1).to_dict("records")}, headers=auth)
    bad = httpx.post(url, json={"inputs": [{"tenure": 1}]}, headers=auth)
    assert ok.headers[RELEASE_HEADER] == deployed.release_id
    assert bad.headers[RELEASE_HEADER] == deployed.release_id
    resp, meta = raw_predict(deployed.info.endpoints.grpc, "e2e-churn",
                             {c: v for c, v in rows(n=2).to_dict("list").items()}, admin_token)
    assert meta[RELEASE_HEADER] == deployed.release_id == resp.release_id


@pytest.mark.parametrize("row,column,fragment", [
    ({"tenure": 3, "monthly": 9.5, "income": 1e4, "tickets": 1}, "plan", "missing"),
    ({"tenure": 3, "monthly": 9.5, "income": 1e4, "tickets": 1, "plan": "pro", "age": 3},
     "age", "not in the model's signature"),
    ({"tenure": "3", "monthly": 9.5, "income": 1e4, "tickets": 1, "plan": "pro"},
     "tenure", "expects long"),
    ({"tenure": 3, "monthly": None, "income": 1e4, "tickets": 1, "plan": "pro"},
     "monthly", "is null"),
])
def test_bad_rows_are_refused_naming_the_column_on_both_protocols(  # type: ignore[no-untyped-def]
        deployed, row, column, fragment, auth, admin_token) -> None:
    resp = httpx.post(f"{deployed.info.endpoints.rest}/predict", json={"inputs": [row]},
                      headers=auth)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "invalid_input" and column in err["message"] and fragment in err["message"]
    assert "Traceback" not in resp.text
    with pytest.raises(grpc.RpcError) as exc:
        raw_predict(deployed.info.endpoints.grpc, "e2e-churn", {k: [v] for k, v in row.items()},
                    admin_token)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert column in exc.value.details() and fragment in exc.value.details()
    with pytest.raises(ferry.InvalidInput, match=column):
        deployed.predict([row], protocol="grpc")


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400), (b'{"rows": []}', 400), (b'{"inputs": []}', 400), (b"[1,2]", 400),
])
def test_malformed_bodies_are_400_not_500(deployed, body, status, auth) -> None:  # type: ignore[no-untyped-def]
    resp = httpx.post(f"{deployed.info.endpoints.rest}/predict", content=body,
                      headers={"content-type": "application/json", **auth})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == "invalid_request"


def test_metadata_and_unknown_paths(deployed, auth) -> None:  # type: ignore[no-untyped-def]
    meta = httpx.get(f"{deployed.info.endpoints.rest}/metadata", headers=auth).json()
    assert meta["release"]["release_id"] == deployed.release_id
    assert [c["name"] for c in meta["release"]["signature"]] == FEATURES
    assert httpx.get(f"{deployed.info.endpoints.rest}/nope", headers=auth).status_code == 404


def test_deploy_refuses_unknown_models_versions_and_replicas(client, v1) -> None:  # type: ignore[no-untyped-def]
    before = ferry_replica_actor_names()
    with pytest.raises(ferry.ModelNotFound):
        client.deploy("no-such-model", version=1)
    with pytest.raises(ferry.VersionNotFound, match="known versions"):
        client.deploy("e2e-churn", version=v1.version + 100)
    with pytest.raises(ferry.InvalidRequest, match="replicas"):
        client.deploy("e2e-churn", version=v1.version, replicas=0)
    resp = client._http.post("/v1/deployments", json={"model": "e2e-churn", "version": 1,
                                                      "replicas": 0})
    assert resp.status_code == 400 and "replicas" in resp.json()["error"]["message"]
    assert ferry_replica_actor_names() == before


def test_a_model_that_cannot_load_is_refused_and_the_old_release_keeps_serving(  # type: ignore[no-untyped-def]
        client, deployed, settings, tmp_path) -> None:
    from pathlib import Path

    replicas_before = replicas_of("e2e-churn")
    # Register a version whose artifact is corrupt (as stored, so its digest matches).
    logged = client.log_model(sklearn_pipeline(c=0.3), name="e2e-churn",
                              training_data=training_frame(), target="churned",
                              code_version="git:corrupt")
    model_id = logged.model_uri.removeprefix("models:/")
    [weights] = list(Path(settings.mlflow_artifact_root, "e2e-churn").rglob(f"{model_id}/**/model.skops"))
    weights.write_bytes(b"this is not a model")
    bad = ferry.ModelVersionPublic.model_validate(client._request(
        "POST", "/v1/models/e2e-churn/versions", json={"model_uri": logged.model_uri}))

    with pytest.raises(ferry.ReleaseFailed, match="cannot be loaded") as exc:
        client.deploy("e2e-churn", version=bad.version, replicas=2)
    assert "keeps serving" in exc.value.message
    # untouched: same replicas, same release, same answers
    assert replicas_of("e2e-churn") == replicas_before
    assert client.status("e2e-churn").release.release_id == deployed.release_id
    got = deployed.predict(rows(), protocol="rest")
    assert got.release_id == deployed.release_id
    assert got.predictions == sklearn_pipeline().predict(rows()).tolist()


def test_a_model_with_a_missing_dependency_is_refused_with_the_reason(client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    (tmp_path / "ferry_only_here.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "class HouseModel(LogisticRegression):\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        from ferry_only_here import HouseModel  # type: ignore[import-not-found]

        train = training_frame()
        X = train[["tenure", "monthly"]]
        mv = client.register(HouseModel(max_iter=500).fit(X, train["churned"]),
                             name="e2e-house", training_data=X)
    finally:
        sys.path.remove(str(tmp_path))
    with pytest.raises(ferry.ReleaseFailed, match="ferry_only_here"):
        client.deploy("e2e-house", version=mv.version, replicas=1)
    assert "e2e-house" not in [d.name for d in client.deployments()]
    assert replicas_of("e2e-house") == []


def test_lightgbm_over_grpc_with_one_replica(client, auth) -> None:  # type: ignore[no-untyped-def]
    train = training_frame()
    numeric = train.drop(columns=["plan"])
    mv = client.register(lightgbm_model(), name="e2e-lgbm", training_data=numeric, target="churned")
    dep = client.deploy("e2e-lgbm", version=mv.version, protocol="grpc", replicas=1)
    X = rows().drop(columns=["plan"])
    got = dep.predict(X)
    assert got.protocol == "grpc" and dep.info.endpoints.rest is None
    assert got.predictions == lightgbm_model().predict(X).tolist()
    resp = httpx.post(f"{client.info().serve_http_url}/e2e-lgbm/predict",
                      json={"inputs": X.head(1).to_dict("records")}, headers=auth)
    assert resp.status_code == 404 and "gRPC only" in resp.json()["error"]["message"]
    client.undeploy("e2e-lgbm")
    assert wait_for(lambda: replicas_of("e2e-lgbm") == [])


def test_upgrade_then_undeploy_leaves_no_orphans(client, deployed, v1) -> None:  # type: ignore[no-untyped-def]
    v2 = client.register(sklearn_pipeline(c=0.05), name="e2e-churn",
                         training_data=training_frame(), target="churned")
    dep2 = client.deploy("e2e-churn", version=v2.version, replicas=2)
    assert dep2.release_id != deployed.release_id
    assert dep2.info.previous_release_id == deployed.release_id
    got = dep2.predict(rows(), protocol="grpc")
    assert got.release_id == dep2.release_id
    assert got.predictions == sklearn_pipeline(c=0.05).predict(rows()).tolist()
    assert wait_for(lambda: len(replicas_of("e2e-churn", dep2.release_id)) == 2)
    # The previous release stays up without traffic, so a rollback is a weight change.
    assert replicas_of("e2e-churn", deployed.release_id)
    assert dep2.info.traffic == {dep2.release_id: 100}

    client.undeploy("e2e-churn")
    assert wait_for(lambda: replicas_of("e2e-churn") == [] and routers_of("e2e-churn") == [])
    assert "e2e-churn" not in [d.name for d in client.deployments()]
    with pytest.raises(ferry.DeploymentNotFound, match="e2e-churn"):
        client.status("e2e-churn")
    with pytest.raises(ferry.DeploymentNotFound):
        client.undeploy("e2e-churn")
    with pytest.raises((ferry.DeploymentNotFound, ferry.PlatformUnavailable)):
        dep2.predict(rows(), protocol="rest")

    # re-deploy of a known version reuses its release and comes back clean
    again = client.deploy("e2e-churn", version=v1.version, replicas=1)
    assert again.release_id == deployed.release_id
    assert wait_for(lambda: len(replicas_of("e2e-churn")) == 1)
    client.undeploy("e2e-churn")
    assert wait_for(lambda: replicas_of("e2e-churn") == [] and routers_of("e2e-churn") == [])
