"""A hostile client against a deployed model on a real local Ray Serve (throughput mode,
HAProxy in front), over REST and gRPC: every bad request is a 4xx / INVALID_ARGUMENT-family
answer from the error tree naming the value, refused at the router when it is about size,
encoding or framing; the model's own failure is a 500 model_error, never "retry"; 10,000
rows wider than gRPC's 4 MiB default travel both protocols (also over the router -> release
handle hop); and after all of it the same replicas still answer correctly."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
from functools import cache
from typing import Any

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import ferry
from ferry_contract import GRPC_ERROR_CODE_KEY, RELEASE_HEADER
from ferry_contract.proto import APPLICATION_METADATA_KEY, encode_request, predict_pb2
from ferry_platform.serving import ferry_replica_actor_names

pytestmark = pytest.mark.ray

NAME = "e2e-hostile"
WIDE = [f"x{i:02d}" for i in range(56)]  # 10,000 rows of 56 doubles: 4.5 MB as protobuf
LIMIT = 16 * 2**20  # FERRY_SERVE_MAX_BODY_MB's default


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"tenure": rng.integers(1, 72, n),
                            "plan": rng.choice(["basic", "pro"], n)}
    for col in WIDE:
        data[col] = rng.normal(0, 1, n).round(6)
    x = np.column_stack([data[c] for c in WIDE[:5]])
    data["y"] = ((x @ np.array([1.0, -1.0, 0.5, 0.0, 2.0]) + 0.02 * data["tenure"]) > 0
                 ).astype(int)
    return pd.DataFrame(data)


@cache
def model() -> Any:
    train = frame(2000, seed=1)
    # handle_unknown="error": an unseen plan makes the model itself raise on valid input.
    pre = ColumnTransformer([("plan", OneHotEncoder(handle_unknown="error"), ["plan"])],
                            remainder="passthrough")
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(
        train.drop(columns="y"), train["y"])


@pytest.fixture(scope="module")
def deployed(client):  # type: ignore[no-untyped-def]
    mv = client.register(model(), name=NAME, training_data=frame(2000, seed=1), target="y")
    dep = client.deploy(NAME, version=mv.version, replicas=1)
    yield dep
    dep.close()
    client.undeploy(NAME)


@pytest.fixture(scope="module")
def actors(deployed):  # type: ignore[no-untyped-def]
    """The deployment's Serve replicas (routers and release) before the hostile traffic."""
    return [a for a in ferry_replica_actor_names()
            if a.startswith((f"SERVE_REPLICA::{NAME}#", f"SERVE_REPLICA::{NAME}."))]


def good_rows(n: int = 3, seed: int = 5) -> pd.DataFrame:
    return frame(n, seed).drop(columns="y")


def good_row() -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v)
            for k, v in good_rows(1).iloc[0].to_dict().items()}


def bearer(dep: ferry.Deployment) -> dict[str, str]:
    """The hostile client holds a valid token (the SDK's): what it sends is the attack, not
    the lack of a credential (tests/e2e/test_prediction_tokens.py covers that)."""
    assert dep.token
    return {"authorization": f"Bearer {dep.token}"}


def post(dep: ferry.Deployment, body: bytes, headers: dict[str, str] | None = None,
         ) -> httpx.Response:
    return httpx.post(f"{dep.info.endpoints.rest}/predict", content=body, timeout=60,
                      headers={"content-type": "application/json",
                               **bearer(dep), **(headers or {})})


def grpc_raw(dep: ferry.Deployment, raw: bytes, app: str | None = NAME) -> Any:
    """One Predict call with ``raw`` as the message bytes, as any gRPC client could send."""
    with grpc.insecure_channel(str(dep.info.endpoints.grpc)) as ch:
        call = ch.unary_unary("/ferry.v1.Predictor/Predict", request_serializer=None,
                              response_deserializer=predict_pb2.PredictResponse.FromString)
        metadata = list(bearer(dep).items())
        if app:
            metadata.append((APPLICATION_METADATA_KEY, app))
        return call.with_call(raw, metadata=metadata, timeout=60)


def still_answers(dep: ferry.Deployment) -> None:
    rows = good_rows()
    want = model().predict(rows).tolist()
    for protocol in ("rest", "grpc"):
        got = dep.predict(rows, protocol=protocol)
        assert got.predictions == want and got.release_id == dep.release_id, protocol


def body_with(**values: str) -> bytes:
    """A one-row body whose columns hold raw JSON text (literals json.dumps will not write)."""
    row = {k: f"@{k}@" if k in values else v for k, v in good_row().items()}
    text = json.dumps({"inputs": [row]})
    for k, literal in values.items():
        text = text.replace(f'"@{k}@"', literal)
    return text.encode()


@pytest.mark.parametrize("body,headers,status,code,fragments", [
    (body_with(x00="Infinity"), {}, 422, "invalid_input", ["'x00'", "Infinity", "row 0"]),
    (body_with(x01="NaN"), {}, 422, "invalid_input", ["'x01'", "NaN"]),
    (body_with(x02="1e400"), {}, 422, "invalid_input", ["'x02'", "Infinity"]),
    (body_with(tenure=str(2**70)), {}, 422, "invalid_input",
     ["'tenure'", "1180591620717411303424", "64-bit"]),
    (body_with(tenure="3.5"), {}, 422, "invalid_input", ["'tenure'", "got number"]),
    (body_with(x03='{"$ne": 1}'), {}, 422, "invalid_input", ["'x03'", "got object"]),
    (body_with(plan="[1, 2]"), {}, 422, "invalid_input", ["'plan'", "got list"]),
    (body_with(plan="true"), {}, 422, "invalid_input", ["'plan'", "got boolean"]),
    (b"[" * 100_000 + b"]" * 100_000, {}, 400, "invalid_request", ["nested too deeply"]),
    (body_with(), {"content-encoding": "gzip"}, 400, "invalid_request", ["not gzip data"]),
    (body_with(), {"content-encoding": "br"}, 415, "unsupported_media_type", ["'br'"]),
    (gzip.compress(b" " * (LIMIT + 1)), {"content-encoding": "gzip"}, 413, "too_large",
     [f"{LIMIT:,} bytes", "FERRY_SERVE_MAX_BODY_MB"]),
], ids=["inf", "nan", "1e400", "2**70", "float-for-long", "object", "list", "bool-for-string",
        "deep", "gzip-header-plain-body", "brotli", "gzip-bomb"])
def test_hostile_rest_bodies_are_refused_naming_the_value_and_nothing_is_lost(  # type: ignore[no-untyped-def]
        deployed, actors, body, headers, status, code, fragments) -> None:
    resp = post(deployed, body, headers)
    assert resp.status_code == status, resp.text[:500]
    err = resp.json()["error"]
    assert err["code"] == code and all(f in err["message"] for f in fragments), err
    assert "Traceback" not in resp.text
    still_answers(deployed)


def test_a_body_over_the_limit_is_refused_at_the_router(deployed) -> None:  # type: ignore[no-untyped-def]
    resp = post(deployed, b" " * (LIMIT + 1))
    assert resp.status_code == 413
    err = resp.json()["error"]
    assert err["code"] == "too_large" and f"{LIMIT:,} bytes" in err["message"]
    assert RELEASE_HEADER not in resp.headers  # no release was chosen: the router refused it
    still_answers(deployed)


def test_a_model_that_raises_on_valid_input_is_a_500_model_error_not_a_retry(deployed) -> None:  # type: ignore[no-untyped-def]
    resp = post(deployed, body_with(plan='"platinum"'))
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["code"] == "model_error" and err["release_id"] == deployed.release_id
    assert "ValueError" in err["message"] and "platinum" in err["message"]
    assert resp.headers[RELEASE_HEADER] == deployed.release_id
    with pytest.raises(ferry.ModelError, match="platinum"):
        deployed.predict([{**good_row(), "plan": "platinum"}], protocol="grpc")
    still_answers(deployed)


def grpc_refused(deployed, raw: bytes, app: str | None = NAME) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as exc:
        grpc_raw(deployed, raw, app)
    return exc.value


@pytest.mark.parametrize("columns,column,fragment", [
    ({"x00": [math.inf]}, "x00", "Infinity"), ({"x01": [math.nan]}, "x01", "NaN"),
    ({"plan": [1.5]}, "plan", "got number"),
], ids=["inf", "nan-not-in-null-rows", "number-for-string"])
def test_hostile_grpc_columns_are_invalid_argument_naming_the_value(  # type: ignore[no-untyped-def]
        deployed, actors, columns, column, fragment) -> None:
    cols = {k: [v] for k, v in good_row().items()}
    request = encode_request({**cols, **columns})
    if column == "x01":  # encode_column sends NaN as null; a raw client may send the value
        request.columns["x01"].ClearField("null_rows")
        request.columns["x01"].doubles.values[:] = [math.nan]
    err = grpc_refused(deployed, request.SerializeToString())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"'{column}'" in err.details() and fragment in err.details()
    trailing = dict(err.trailing_metadata())
    assert trailing[GRPC_ERROR_CODE_KEY] == "invalid_input"
    assert trailing[RELEASE_HEADER] == deployed.release_id
    still_answers(deployed)


def test_undecodable_grpc_bytes_are_invalid_argument_not_unknown(deployed) -> None:  # type: ignore[no-untyped-def]
    err = grpc_refused(deployed, b"\xff\xff\xff\xff not protobuf")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a ferry.v1.PredictRequest" in err.details()
    assert dict(err.trailing_metadata())[GRPC_ERROR_CODE_KEY] == "invalid_request"
    still_answers(deployed)


def test_a_grpc_message_over_the_limit_is_resource_exhausted(deployed) -> None:  # type: ignore[no-untyped-def]
    big = encode_request({"x00": [0.5] * (LIMIT // 8 + 1000)}).SerializeToString()
    assert len(big) > LIMIT
    err = grpc_refused(deployed, big)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(LIMIT) in err.details() or f"{LIMIT:,}" in err.details(), err.details()
    with pytest.raises(ferry.PayloadTooLarge, match="FERRY_SERVE_MAX_BODY_MB"):
        deployed.predict({"x00": [0.5] * (LIMIT // 8 + 1000)}, protocol="grpc")
    still_answers(deployed)


def test_a_grpc_call_without_application_metadata_is_refused_naming_the_key(  # type: ignore[no-untyped-def]
        client, deployed) -> None:
    """Alone on the cluster, HAProxy forwards such a call to the router, which refuses it
    (INVALID_ARGUMENT); beside other deployments HAProxy answers NOT_FOUND itself. Either
    way the answer names the metadata key."""
    cols = {k: [v] for k, v in good_row().items()}
    err = grpc_refused(deployed, encode_request(cols).SerializeToString(), app=None)
    alone = [d.name for d in client.deployments()] == [NAME]
    assert err.code() == (grpc.StatusCode.INVALID_ARGUMENT if alone
                          else grpc.StatusCode.NOT_FOUND), err.details()
    assert "application" in err.details().lower()
    if alone:
        assert f"'{NAME}'" in err.details()
    with pytest.raises(ferry.DeploymentNotFound, match="no-such-deployment"):
        grpc_deployment = ferry.Deployment(deployed.info.model_copy(update={
            "name": "no-such-deployment", "endpoints": deployed.info.endpoints.model_copy(
                update={"grpc_application": "no-such-deployment"})}))
        grpc_deployment.predict(cols, protocol="grpc")
    still_answers(deployed)


def test_ten_thousand_wide_rows_travel_both_protocols_and_the_handle_hop(deployed) -> None:  # type: ignore[no-untyped-def]
    rows = frame(10_000, seed=9).drop(columns="y")
    want = model().predict(rows).tolist()
    assert 0 < sum(want) < len(want)
    assert len(encode_request({c: rows[c].tolist() for c in rows}).SerializeToString()) > 4 * 2**20
    for protocol in ("rest", "grpc"):
        got = deployed.predict(rows, protocol=protocol)
        assert got.predictions == want, protocol
    # The router's other path: the release's own application through a deployment handle,
    # over Serve's gRPC transport between replicas (4 MiB by default in throughput mode).
    from ray import serve
    from ray.serve._private import constants

    from ferry_platform.serving._apps import RELEASE_DEPLOYMENT
    from ferry_platform.serving._ray import _handle_loop, release_app_name

    assert constants.RAY_SERVE_USE_GRPC_BY_DEFAULT  # handles speak gRPC in this mode
    body = json.dumps({"inputs": rows.to_dict("records")}).encode()
    raw = encode_request({c: rows[c].tolist() for c in rows}).SerializeToString()
    assert len(body) > 4 * 2**20 and len(raw) > 4 * 2**20

    async def through_handle() -> tuple[Any, Any]:
        handle = serve.get_deployment_handle(RELEASE_DEPLOYMENT,
                                             release_app_name(NAME, deployed.release_id))
        return (await handle.handle.remote("POST", f"/{NAME}/predict", body),
                await handle.grpc.remote(raw))

    rest_answer, grpc_answer = asyncio.run_coroutine_threadsafe(
        through_handle(), _handle_loop()).result(timeout=120)
    assert rest_answer[0] == 200 and json.loads(rest_answer[1])["predictions"] == want
    assert grpc_answer[0] is None
    from ferry_contract.proto import decode_column

    assert decode_column(predict_pb2.PredictResponse.FromString(grpc_answer[2]).predictions) \
        == want


def test_the_same_replicas_answered_everything(deployed, actors) -> None:  # type: ignore[no-untyped-def]
    now = [a for a in ferry_replica_actor_names()
           if a.startswith((f"SERVE_REPLICA::{NAME}#", f"SERVE_REPLICA::{NAME}."))]
    assert now == actors and len(actors) >= 2  # routers and the release: none restarted
    still_answers(deployed)
