"""The Open Inference Protocol (KServe V2) over the data plane, without Ray.

A real ``FerryRouter`` answering through a real ``FerryReplica`` around a scikit-learn model
trained on the hidden churn generator; requests are encoded and answers decoded by the
stock client (``tritonclient``, PyPI), so what is tested is what Triton's and KServe's
clients send: JSON and binary tensors over REST, ``raw_input_contents`` over gRPC.
Answers must equal ``model.predict`` on the same rows; every refusal is a 4xx /
INVALID_ARGUMENT naming the value, in V2's ``{"error": "..."}`` shape, before the model runs.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from _synth import churn
from tritonclient.grpc import service_pb2
from tritonclient.grpc._utils import _get_inference_request

from ferry_contract import RELEASE_HEADER, ColumnSpec
from ferry_platform.core import ReleaseManifest
from ferry_platform.serving import _v2
from ferry_platform.serving._replica import FerryReplica
from ferry_platform.serving._router import FerryRouter

FEATURES = ["tenure", "monthly", "income", "tickets", "plan"]
SIG = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
       ColumnSpec(name="income", type="double"), ColumnSpec(name="tickets", type="long"),
       ColumnSpec(name="plan", type="string")]
RID = "churn-v1-abc"


class Service:
    """What a release's Bento service gives the replica; counts the model's calls."""

    def __init__(self, model: Any, features: list[str]) -> None:
        self.model, self.features, self.calls = model, features, 0

    def predict_frame(self, frame: pd.DataFrame) -> Any:
        self.calls += 1
        return self.model.predict(frame[self.features])

    def predict_proba_frame(self, frame: pd.DataFrame) -> Any:
        return list(self.model.classes_), self.model.predict_proba(frame[self.features])

    def example_frame(self) -> Any:
        return None


def _churn_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = churn(2000, seed=3)
    pre = ColumnTransformer([("num", StandardScaler(), FEATURES[:4]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(train[FEATURES],
                                                                      train["churned"])


def _router(signature: list[ColumnSpec], service: Service, name: str = "churn",
            access: dict[str, Any] | None = None) -> FerryRouter:
    manifest = ReleaseManifest(release_id=RID, model=name, version=1, model_uri="models:/m-1",
                               model_digest="sha256:0", training_data_digest="sha256:1",
                               code_version="git:0", framework="sklearn", signature=signature,
                               ferry_version="0", bento_tag=f"{name}:abc")
    replica = FerryReplica({"protocol": "auto"}, loaded=(manifest, service))
    router = FerryRouter(name)
    router.reconfigure({"generation": 1, "access": access or {"anonymous": True},
                        "routes": [{"release_id": RID, "app": f"{name}.{RID}", "weight": 100}]})
    router._local = (RID, replica)
    service.calls = 0
    return router


@pytest.fixture(scope="module")
def model() -> Any:
    return _churn_model()


@pytest.fixture
def served(model: Any) -> tuple[FerryRouter, Service]:
    service = Service(model, FEATURES)
    return _router(SIG, service), service


def rows(n: int = 7, seed: int = 41) -> pd.DataFrame:
    return churn(n, seed=seed)[FEATURES]  # a hidden generator's rows, not the training ones


# -- REST --------------------------------------------------------------------------------
def rest(router: FerryRouter, path: str, body: bytes = b"", method: str = "POST",
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    from starlette.requests import Request

    messages = [{"type": "http.request", "body": body, "more_body": False}]
    hdrs = {"content-length": str(len(body)), **(headers or {})}

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": method, "path": f"/{router.name}{path}", "headers":
             [(k.lower().encode(), v.encode("latin-1")) for k, v in hdrs.items()],
             "query_string": b""}
    response = asyncio.run(router(Request(scope, receive)))
    return response.status_code, bytes(response.body), dict(response.headers)


def triton_inputs(frame: pd.DataFrame, binary: bool) -> list[thttp.InferInput]:
    out = []
    for c in SIG:
        values = frame[c.name].to_numpy()
        array = values.astype(object) if c.type == "string" else values.astype(
            "int64" if c.type == "long" else "float64")
        tensor = thttp.InferInput(c.name, [len(frame)], _v2.DATATYPE[c.type])
        tensor.set_data_from_numpy(array, binary_data=binary)
        out.append(tensor)
    return out


def infer_rest(router: FerryRouter, inputs: list[Any], outputs: list[str] | None = None,
               ) -> tuple[int, Any, dict[str, str]]:
    requested = [thttp.InferRequestedOutput(o, binary_data=False) for o in outputs or []]
    body, header_length = thttp.InferenceServerClient.generate_request_body(
        inputs, outputs=requested or None)
    headers = {} if header_length is None else {_v2.BINARY_HEADER: str(header_length)}
    status, payload, got = rest(router, "/v2/models/churn/infer", body, headers=headers)
    if status != 200:
        return status, json.loads(payload), got
    return status, thttp.InferenceServerClient.parse_response_body(payload), got


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary-tensors"])
def test_rest_infer_equals_model_predict_and_names_the_release(
        served: tuple[FerryRouter, Service], model: Any, binary: bool) -> None:
    router, _ = served
    frame = rows()
    status, result, headers = infer_rest(router, triton_inputs(frame, binary))
    assert status == 200, result
    assert result.as_numpy("predictions").tolist() == model.predict(frame).tolist()
    assert result.get_response()["parameters"]["release_id"] == RID == headers[RELEASE_HEADER]
    assert result.get_response()["model_name"] == "churn"


def test_probabilities_and_classes_when_asked_for(served: tuple[FerryRouter, Service],
                                                  model: Any) -> None:
    router, _ = served
    frame = rows(5)
    status, result, _ = infer_rest(router, triton_inputs(frame, False),
                                   ["predictions", "probabilities", "classes"])
    assert status == 200
    np.testing.assert_allclose(result.as_numpy("probabilities"), model.predict_proba(frame))
    assert result.as_numpy("classes").tolist() == model.classes_.tolist()


def test_metadata_lists_the_signature_as_tensors(served: tuple[FerryRouter, Service]) -> None:
    router, _ = served
    status, payload, headers = rest(router, "/v2/models/churn", method="GET")
    meta = json.loads(payload)
    assert status == 200 and headers[RELEASE_HEADER] == RID
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        ("tenure", "INT64", [-1]), ("monthly", "FP64", [-1]), ("income", "FP64", [-1]),
        ("tickets", "INT64", [-1]), ("plan", "BYTES", [-1])]
    assert [o["name"] for o in meta["outputs"]] == ["predictions", "probabilities", "classes"]
    assert meta["outputs"][0]["datatype"] == "INT64" and meta["versions"] == ["1"]
    assert meta["platform"] == "ferry_sklearn" and meta["parameters"]["release_id"] == RID
    assert rest(router, "/v2/models/churn/ready", method="GET")[0] == 200
    assert json.loads(rest(router, "/v2/health/live", method="GET")[1]) == {"live": True}
    assert json.loads(rest(router, "/v2/health/ready", method="GET")[1]) == {"ready": True}


def test_one_2d_tensor_when_every_input_has_one_type(model: Any) -> None:
    numeric = ["tenure", "monthly", "income", "tickets"]
    sig = [ColumnSpec(name=n, type="double") for n in numeric]
    train = churn(1500, seed=5)
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(train[numeric].astype("float64"), train["monthly"] * 0.1)
    router = _router(sig, Service(reg, numeric), name="spend")
    frame = churn(9, seed=77)[numeric].astype("float64")
    body = {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [9, 4],
                        "data": frame.to_numpy().tolist()}]}
    status, payload, _ = rest(router, "/v2/models/spend/infer", json.dumps(body).encode())
    assert status == 200, payload
    np.testing.assert_allclose(json.loads(payload)["outputs"][0]["data"], reg.predict(frame))
    # the churn model's inputs differ in type: one 2-D tensor is refused, naming the fix
    router2 = _router(SIG, Service(model, FEATURES))
    body["inputs"][0].update(shape=[9, 5], data=[1.0] * 45)
    status, payload, _ = rest(router2, "/v2/models/churn/infer", json.dumps(body).encode())
    assert status == 422 and "one tensor per input" in json.loads(payload)["error"]


def _body(**change: Any) -> dict[str, Any]:
    frame = rows(2)
    inputs = []
    for c in SIG:
        values = frame[c.name].tolist()
        inputs.append({"name": c.name, "datatype": _v2.DATATYPE[c.type], "shape": [2],
                       "data": values})
    for name, patch in change.items():
        (tensor,) = [t for t in inputs if t["name"] == name]
        if patch is None:
            inputs.remove(tensor)
        else:
            tensor.update(patch)
    return {"inputs": inputs}


@pytest.mark.parametrize("change,status,fragments", [
    ({"tenure": {"datatype": "FP64"}}, 422, ["'tenure' is FP64", "send it as INT64"]),
    ({"plan": {"datatype": "FP32"}}, 422, ["'plan' is FP32", "send it as BYTES"]),
    ({"tenure": {"name": "tenur"}}, 422, ["unknown input 'tenur'", "missing input 'tenure'"]),
    ({"monthly": None}, 422, ["missing input 'monthly' (FP64"]),
    ({"income": {"shape": [2, 3]}}, 422, ["'income' has shape [2, 3]", "[N] or [N, 1]"]),
    ({"income": {"shape": [3]}}, 422, ["'income' holds 2 values", "shape [3] says 3"]),
    ({"tickets": {"data": [1, 2.5]}}, 422, ["'tickets' is INT64, but element 1 is 2.5"]),
    ({"monthly": {"data": [1.0, float("nan")]}}, 422, ["'monthly'", "NaN", "row 1"]),
    ({"tenure": {"data": [1, 2**70]}}, 422, ["'tenure'", "64-bit"]),
    ({"plan": {"data": ["basic", {"$gt": ""}]}}, 422, ["'plan' is BYTES, but element 1"]),
    ({"tenure": {"shape": [-1]}}, 400, ["'shape' must be a list of 1 or 2 non-negative"]),
    ({"tenure": {"datatype": "FP16"}}, 422, ["'tenure' is FP16"]),
], ids=["datatype", "bytes-datatype", "unknown-name", "missing", "bad-shape", "length-vs-shape",
        "float-in-int64", "nan", "past-int64", "object", "negative-shape", "unknown-datatype"])
def test_bad_tensors_are_refused_naming_the_value_and_the_fix_before_the_model_runs(
        served: tuple[FerryRouter, Service], change: dict[str, Any], status: int,
        fragments: list[str]) -> None:
    router, service = served
    got, payload, headers = rest(router, "/v2/models/churn/infer",
                                 json.dumps(_body(**change)).encode())
    body = json.loads(payload)
    assert got == status, body
    assert isinstance(body["error"], str) and body["release_id"] == RID  # V2's error shape
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    assert service.calls == 0 and headers[RELEASE_HEADER] == RID


@pytest.mark.parametrize("path,method,body,status,fragment", [
    ("/v2/models/other/infer", "POST", b"{}", 404, "use /v2/models/churn"),
    ("/v2/models/churn/infer", "POST", b"[" * 100_000, 400, "nested too deeply"),
    ("/v2/models/churn/infer", "POST", b'{"inputs": []}', 400, "V2 inference request"),
    ("/v2/models/churn/infer", "POST", json.dumps({**_body(), "x": 1}).encode(), 400,
     "unexpected top-level keys"),
    ("/v2/models/churn/infer", "POST", json.dumps(
        {"inputs": _body()["inputs"], "outputs": [{"name": "scores"}]}).encode(), 400,
     "unknown output 'scores'"),
    ("/v2/models/churn/infer", "POST", json.dumps({**_body(), "outputs": 5}).encode(), 400,
     "'outputs' is int"),
    ("/v2/models/churn/infer", "GET", b"", 405, "use POST"),
    ("/v2/models/churn/explain", "POST", b"{}", 404, "no V2 route"),
], ids=["other-model", "deep-json", "no-inputs", "extra-key", "unknown-output",
        "outputs-not-a-list", "get-infer", "unknown-route"])
def test_bad_requests_are_4xx_in_v2_shape(served: tuple[FerryRouter, Service], path: str,
                                          method: str, body: bytes, status: int,
                                          fragment: str) -> None:
    router, service = served
    got, payload, _ = rest(router, path, body, method=method)
    assert (got, service.calls) == (status, 0), payload
    assert fragment in json.loads(payload)["error"]


def test_binary_tensors_that_do_not_fit_their_shape_are_refused(
        served: tuple[FerryRouter, Service]) -> None:
    router, service = served
    inputs = triton_inputs(rows(3), binary=True)
    inputs[1].set_shape([4])  # 3 values sent for a shape of 4
    status, body, _ = infer_rest(router, inputs)
    assert status == 400 and "24 bytes of FP64 hold 3 values" in body["error"]
    assert service.calls == 0


def test_a_regressor_refuses_probabilities(model: Any) -> None:
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(churn(500, seed=2)[["monthly"]], churn(500, seed=2)["tenure"])

    class NoProba(Service):
        predict_proba_frame = None  # type: ignore[assignment]

    router = _router([ColumnSpec(name="monthly", type="double")], NoProba(reg, ["monthly"]),
                     name="reg")
    body = {"inputs": [{"name": "monthly", "datatype": "FP64", "shape": [1], "data": [80.0]}],
            "outputs": [{"name": "probabilities"}]}
    status, payload, _ = rest(router, "/v2/models/reg/infer", json.dumps(body).encode())
    assert status == 400 and "no class probabilities" in json.loads(payload)["error"]


def test_the_token_is_checked_except_on_health_probes(model: Any) -> None:
    import hashlib

    token = "fy_predict-only"
    router = _router(SIG, Service(model, FEATURES), access={
        "tokens": {hashlib.sha256(token.encode()).hexdigest(): None}})
    body = json.dumps(_body()).encode()
    status, payload, headers = rest(router, "/v2/models/churn/infer", body)
    assert status == 401 and "Authorization: Bearer" in json.loads(payload)["error"]
    assert headers["www-authenticate"] == "Bearer"
    assert rest(router, "/v2/models/churn", method="GET")[0] == 401
    # a V2 path ending in "healthz" is the model's metadata, not a probe
    assert rest(router, "/v2/models/churn/versions/healthz", method="GET")[0] == 401
    assert rest(router, "/v2/health/live", method="GET")[0] == 200
    assert rest(router, "/v2/health/ready", method="GET")[0] == 200
    ok = rest(router, "/v2/models/churn/infer", body,
              headers={"authorization": f"Bearer {token}"})
    assert ok[0] == 200


# -- gRPC --------------------------------------------------------------------------------
class Context:
    """The part of Serve's gRPC context the router uses."""

    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self.metadata = metadata
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.trailing: dict[str, str] = {}

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def set_trailing_metadata(self, metadata: list[tuple[str, str]]) -> None:
        self.trailing = dict(metadata)


def call(router: FerryRouter, rpc: str, message: Any,
         metadata: list[tuple[str, str]] | None = None) -> tuple[Context, Any]:
    ctx = Context([("application", router.name)] if metadata is None else metadata)
    raw = message if isinstance(message, bytes) else message.SerializeToString()
    response = asyncio.run(getattr(router, rpc)(raw, ctx))
    # what a stock client decodes: tritonclient's own message class
    return ctx, getattr(service_pb2, f"{rpc}Response").FromString(response.SerializeToString())


def grpc_inputs(frame: pd.DataFrame) -> list[tgrpc.InferInput]:
    out = []
    for c in SIG:
        values = frame[c.name].to_numpy()
        array = values.astype(object) if c.type == "string" else values.astype(
            "int64" if c.type == "long" else "float64")
        tensor = tgrpc.InferInput(c.name, [len(frame)], _v2.DATATYPE[c.type])
        tensor.set_data_from_numpy(array)  # raw_input_contents
        out.append(tensor)
    return out


def infer_message(inputs: list[Any], outputs: list[str] | None = None,
                  model: str = "churn") -> Any:
    requested = [tgrpc.InferRequestedOutput(o) for o in outputs or []] or None
    return _get_inference_request(model, inputs, "", "req-1", requested, 0, False, False, 0,
                                  None, None)


def test_grpc_infer_with_raw_contents_equals_model_predict(
        served: tuple[FerryRouter, Service], model: Any) -> None:
    router, _ = served
    frame = rows(11, seed=8)
    message = infer_message(grpc_inputs(frame), ["predictions", "probabilities"])
    assert len(message.raw_input_contents) == len(SIG)
    ctx, response = call(router, "ModelInfer", message)
    assert ctx.code is None, ctx.details
    result = tgrpc.InferResult(response)
    assert result.as_numpy("predictions").tolist() == model.predict(frame).tolist()
    np.testing.assert_allclose(result.as_numpy("probabilities"), model.predict_proba(frame))
    assert response.parameters["release_id"].string_param == RID
    assert ctx.trailing[RELEASE_HEADER] == RID and response.id == "req-1"


def test_an_autoscaled_router_predicts_v2_off_its_event_loop(model: Any) -> None:
    """Serve scales an autoscaled router by the requests in flight it reports; they show
    only if predict leaves the event loop (as Ferry's own REST and gRPC do), for V2 too."""
    import threading

    class Recording(Service):
        def __init__(self, model: Any, features: list[str]) -> None:
            super().__init__(model, features)
            self.threads: list[str] = []

        def predict_frame(self, frame: pd.DataFrame) -> Any:
            self.threads.append(threading.current_thread().name)
            return super().predict_frame(frame)

    service = Recording(model, FEATURES)
    router = _router(SIG, service)
    router._offload = True
    service.threads = []  # the replica's warm-up call, made when it loads, aside
    frame = rows(3, seed=9)
    ctx, response = call(router, "ModelInfer", infer_message(grpc_inputs(frame), ["predictions"]))
    assert ctx.code is None, ctx.details
    assert tgrpc.InferResult(response).as_numpy("predictions").tolist() == \
        model.predict(frame).tolist()
    assert rest(router, "/v2/models/churn/infer", json.dumps(_body()).encode())[0] == 200
    assert len(service.threads) == 2
    assert threading.main_thread().name not in service.threads, service.threads


def test_grpc_typed_contents_are_read_too(served: tuple[FerryRouter, Service],
                                          model: Any) -> None:
    router, _ = served
    frame = rows(3)
    message = service_pb2.ModelInferRequest(model_name="churn")
    for c in SIG:
        tensor = message.inputs.add(name=c.name, datatype=_v2.DATATYPE[c.type], shape=[3])
        values = frame[c.name].tolist()
        if c.type == "string":
            tensor.contents.bytes_contents.extend(v.encode() for v in values)
        elif c.type == "long":
            tensor.contents.int64_contents.extend(values)
        else:
            tensor.contents.fp64_contents.extend(values)
    ctx, response = call(router, "ModelInfer", message)
    assert ctx.code is None, ctx.details
    assert tgrpc.InferResult(response).as_numpy("predictions").tolist() == \
        model.predict(frame).tolist()


def test_grpc_metadata_ready_and_health(served: tuple[FerryRouter, Service]) -> None:
    router, _ = served
    ctx, meta = call(router, "ModelMetadata", service_pb2.ModelMetadataRequest(name="churn"))
    assert ctx.code is None and ctx.trailing[RELEASE_HEADER] == RID
    assert [(t.name, t.datatype) for t in meta.inputs][:2] == [("tenure", "INT64"),
                                                                ("monthly", "FP64")]
    assert call(router, "ModelReady", service_pb2.ModelReadyRequest(name="churn"))[1].ready
    assert call(router, "ServerLive", service_pb2.ServerLiveRequest())[1].live
    assert call(router, "ServerReady", service_pb2.ServerReadyRequest())[1].ready


def _raw_with(frame: pd.DataFrame, name: str, raw: bytes, datatype: str | None = None) -> Any:
    message = infer_message(grpc_inputs(frame))
    i = [t.name for t in message.inputs].index(name)
    message.raw_input_contents[i] = raw
    if datatype:
        message.inputs[i].datatype = datatype
    return message


@pytest.mark.parametrize("make,fragment", [
    (lambda f: _raw_with(f, "monthly", np.array([1.0, np.nan]).tobytes()), "NaN"),
    (lambda f: _raw_with(f, "monthly", b"\x00" * 5), "5 bytes of FP64"),
    (lambda f: _raw_with(f, "plan", struct.pack("<I", 99) + b"ab"), "not 2 BYTES elements"),
    (lambda f: _raw_with(f, "plan", struct.pack("<I", 2) + b"\xff\xfe" + struct.pack("<I", 1)
                         + b"a"), "UTF-8"),
    (lambda f: _raw_with(f, "tenure", np.array([1.0, 2.0]).tobytes(), "FP64"),
     "'tenure' is FP64"),
    (lambda f: infer_message(grpc_inputs(f), model="other"), "model 'other' is not served"),
    (lambda f: b"\xff\xff\xff", "not an inference.ModelInferRequest"),
], ids=["nan", "short-raw", "bytes-length", "not-utf8", "datatype", "other-model", "garbage"])
def test_bad_grpc_inputs_are_invalid_argument_before_the_model_runs(
        served: tuple[FerryRouter, Service], make: Any, fragment: str) -> None:
    router, service = served
    ctx, _ = call(router, "ModelInfer", make(rows(2)))
    assert ctx.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert fragment in ctx.details, ctx.details
    assert service.calls == 0


def test_grpc_needs_the_token_and_application_metadata(model: Any) -> None:
    import hashlib

    token = "fy_predict-only"
    router = _router(SIG, Service(model, FEATURES), access={
        "tokens": {hashlib.sha256(token.encode()).hexdigest(): None}})
    message = infer_message(grpc_inputs(rows(2)))
    ctx, _ = call(router, "ModelInfer", message)
    assert ctx.code == grpc.StatusCode.UNAUTHENTICATED
    ctx, _ = call(router, "ModelMetadata", service_pb2.ModelMetadataRequest(name="churn"))
    assert ctx.code == grpc.StatusCode.UNAUTHENTICATED
    assert call(router, "ServerLive", service_pb2.ServerLiveRequest())[0].code is None
    auth = [("authorization", f"Bearer {token}")]
    assert call(router, "ModelInfer", message, [("application", "churn"), *auth])[0].code \
        is None
    ctx, _ = call(router, "ModelInfer", message, auth)
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT and "'application'" in ctx.details


def test_a_release_replica_refuses_v2_grpc_called_around_its_router(
        served: tuple[FerryRouter, Service]) -> None:
    router, service = served
    assert router._local is not None
    replica = router._local[1]
    for rpc in _v2_rpcs():
        ctx = Context([])
        asyncio.run(getattr(replica, rpc)(b"", ctx))
        assert ctx.code == grpc.StatusCode.PERMISSION_DENIED, rpc
        assert ctx.trailing[RELEASE_HEADER] == RID
    assert service.calls == 0


def _v2_rpcs() -> tuple[str, ...]:
    from ferry_contract.proto import inference_pb2

    return tuple(inference_pb2.RPCS)


def test_a_binary_header_that_does_not_fit_the_body_is_named(
        served: tuple[FerryRouter, Service]) -> None:
    router, service = served
    body = json.dumps(_body()).encode()
    status, payload, _ = rest(router, "/v2/models/churn/infer", body,
                              headers={_v2.BINARY_HEADER: "40"})
    assert status == 400 and "first 40 bytes" in json.loads(payload)["error"]
    status, payload, _ = rest(router, "/v2/models/churn/infer", body,
                              headers={_v2.BINARY_HEADER: "999999"})
    assert status == 400 and "not a length within" in json.loads(payload)["error"]
    for length in ("\u00b2", "9" * 5_000):  # '²' is a digit to str.isdigit(), not to int()
        status, payload, _ = rest(router, "/v2/models/churn/infer", body,
                                  headers={_v2.BINARY_HEADER: length})
        assert status == 400 and "not a length within" in json.loads(payload)["error"]
    assert service.calls == 0
