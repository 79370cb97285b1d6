"""A team's stock V2 clients work on a Ferry deployment without Ferry's SDK: tritonclient
(PyPI) over REST and gRPC against the session's real Ray Serve (HAProxy, routers, replicas):
health, metadata, ready, infer (equal to ``model.predict`` on rows from the hidden
generator, the release id on every answer), and its errors (wrong datatype, unknown input,
bad shape, no token) with a predict-only token."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from _models import FEATURES, sklearn_pipeline, training_frame
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from ferry_contract import RELEASE_HEADER

pytestmark = pytest.mark.ray

NAME = "e2e-v2"


@pytest.fixture(scope="module")
def served(client):  # type: ignore[no-untyped-def]
    mv = client.register(sklearn_pipeline(c=0.7), name=NAME, training_data=training_frame(),
                         target="churned")
    dep = client.deploy(NAME, version=mv.version, replicas=1)
    yield dep
    client.undeploy(NAME)


@pytest.fixture(scope="module")
def token(client, served) -> str:  # type: ignore[no-untyped-def]
    """A predict-only token, as a service holding no other right would use."""
    secret = str(client.create_token(scope="predict", description="v2 client").token)
    until(lambda: httpx.get(f"{served.info.endpoints.rest}/v2/models/{NAME}", timeout=30,
                            headers={"authorization": f"Bearer {secret}"}).status_code == 200,
          10.0)
    return secret


def until(check: Callable[[], bool], seconds: float) -> None:
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < seconds, f"not within {seconds}s"
        time.sleep(0.1)


def rows(n: int = 25, seed: int = 29) -> pd.DataFrame:
    return training_frame(seed).head(n)[FEATURES]  # another draw of the hidden generator


def inputs(module: Any, frame: pd.DataFrame, **kw: Any) -> list[Any]:
    out = []
    for name in FEATURES:
        values = frame[name].to_numpy()
        values = values.astype(object) if values.dtype == object else values
        tensor = module.InferInput(name, [len(frame)], np_to_triton_dtype(values.dtype))
        tensor.set_data_from_numpy(values, **kw)
        out.append(tensor)
    return out


def http_client(served) -> thttp.InferenceServerClient:  # type: ignore[no-untyped-def]
    return thttp.InferenceServerClient(str(served.info.endpoints.rest).split("://", 1)[1],
                                       network_timeout=60)


def test_tritonclient_over_rest(served, token: str) -> None:  # type: ignore[no-untyped-def]
    c = http_client(served)
    auth = {"authorization": f"Bearer {token}"}
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready(NAME, headers=auth)
    meta = c.get_model_metadata(NAME, headers=auth)
    assert [(t["name"], t["datatype"]) for t in meta["inputs"]] == [
        ("tenure", "INT64"), ("monthly", "FP64"), ("income", "FP64"), ("tickets", "INT64"),
        ("plan", "BYTES")]
    assert meta["versions"] == [str(served.version)]
    frame = rows()
    want = sklearn_pipeline(c=0.7)
    for binary in (True, False):  # Triton's binary tensors, and plain JSON
        # a copy each time: tritonclient adds Inference-Header-Content-Length to the dict
        result = c.infer(NAME, inputs(thttp, frame, binary_data=binary), headers=dict(auth),
                         outputs=[thttp.InferRequestedOutput("predictions"),
                                  thttp.InferRequestedOutput("probabilities")])
        assert result.as_numpy("predictions").tolist() == want.predict(frame).tolist()
        np.testing.assert_allclose(result.as_numpy("probabilities"), want.predict_proba(frame))
        assert result.get_response()["parameters"]["release_id"] == served.release_id
    r = httpx.get(f"{served.info.endpoints.rest}/v2/models/{NAME}", headers=auth, timeout=30)
    assert r.headers[RELEASE_HEADER] == served.release_id


def rest_error(served, tensors: list[Any], token: str | None) -> InferenceServerException:  # type: ignore[no-untyped-def]
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with pytest.raises(InferenceServerException) as exc:
        http_client(served).infer(NAME, tensors, headers=headers)
    return exc.value


def bad_inputs(module: Any, what: str, **kw: Any) -> list[Any]:
    frame = rows(4)
    tensors = inputs(module, frame, **kw)
    if what == "datatype":
        tensors[0] = module.InferInput("tenure", [4], "FP64")
        tensors[0].set_data_from_numpy(frame["tenure"].to_numpy().astype("float64"), **kw)
    elif what == "unknown":
        tensors[3] = module.InferInput("tickts", [4], "INT64")
        tensors[3].set_data_from_numpy(frame["tickets"].to_numpy(), **kw)
    elif what == "shape":
        tensors[1].set_shape([2, 2])
    return tensors


def test_rest_errors_name_the_value_and_the_fix(served, token: str) -> None:  # type: ignore[no-untyped-def]
    e = rest_error(served, bad_inputs(thttp, "datatype"), token)
    assert e.status() == "422" and "'tenure' is FP64" in e.message()
    assert "send it as INT64" in e.message()
    e = rest_error(served, bad_inputs(thttp, "unknown", binary_data=False), token)
    assert "unknown input 'tickts'" in e.message() and "missing input 'tickets'" in e.message()
    e = rest_error(served, bad_inputs(thttp, "shape", binary_data=False), token)
    assert "'monthly' has shape [2, 2]" in e.message()
    e = rest_error(served, inputs(thttp, rows(2)), None)
    assert e.status() == "401" and "Authorization: Bearer" in e.message()


def grpc_client(served) -> tgrpc.InferenceServerClient:  # type: ignore[no-untyped-def]
    return tgrpc.InferenceServerClient(str(served.info.endpoints.grpc))


def test_tritonclient_over_grpc(served, token: str) -> None:  # type: ignore[no-untyped-def]
    c = grpc_client(served)
    # with several deployments, a gRPC client names its application (as for Ferry's Predict)
    headers = {"application": NAME, "authorization": f"Bearer {token}"}
    assert c.is_server_live(headers=headers) and c.is_server_ready(headers=headers)
    assert c.is_model_ready(NAME, headers=headers)
    meta = c.get_model_metadata(NAME, headers=headers)
    assert [t.name for t in meta.inputs] == FEATURES and meta.inputs[4].datatype == "BYTES"
    frame = rows(40, seed=31)
    result = c.infer(NAME, inputs(tgrpc, frame), headers=headers, client_timeout=60)
    assert result.as_numpy("predictions").tolist() == \
        sklearn_pipeline(c=0.7).predict(frame).tolist()
    assert result.get_response().parameters["release_id"].string_param == served.release_id
    # the release is in the trailing metadata too (what a raw gRPC client reads)
    from tritonclient.grpc import service_pb2

    with grpc.insecure_channel(str(served.info.endpoints.grpc)) as ch:
        call = ch.unary_unary("/inference.GRPCInferenceService/ModelMetadata",
                              request_serializer=service_pb2.ModelMetadataRequest.SerializeToString,
                              response_deserializer=service_pb2.ModelMetadataResponse.FromString)
        _, info = call.with_call(service_pb2.ModelMetadataRequest(name=NAME),
                                 metadata=list(headers.items()), timeout=30)
        assert dict(info.trailing_metadata())[RELEASE_HEADER] == served.release_id


def test_grpc_errors_are_invalid_argument_and_unauthenticated(served, token: str) -> None:  # type: ignore[no-untyped-def]
    c = grpc_client(served)
    headers = {"application": NAME, "authorization": f"Bearer {token}"}
    for what, fragment in (("datatype", "'tenure' is FP64"), ("unknown", "unknown input"),
                           ("shape", "'monthly' has shape [2, 2]")):
        with pytest.raises(InferenceServerException) as exc:
            c.infer(NAME, bad_inputs(tgrpc, what), headers=headers, client_timeout=60)
        assert exc.value.status() == "StatusCode.INVALID_ARGUMENT", what
        assert fragment in exc.value.message(), exc.value.message()
    with pytest.raises(InferenceServerException) as exc:
        c.infer(NAME, inputs(tgrpc, rows(2)), headers={"application": NAME}, client_timeout=60)
    assert exc.value.status() == "StatusCode.UNAUTHENTICATED"
    # still answering after the refusals
    assert c.infer(NAME, inputs(tgrpc, rows(2)), headers=headers).as_numpy("predictions") \
        is not None


def test_the_docs_tritonclient_example_runs(served, token: str,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path
    from urllib.parse import urlsplit

    doc = (Path(__file__).parents[2] / "docs" / "data-plane.md").read_text()
    section = doc.split("## Open Inference Protocol", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    rest = urlsplit(str(served.info.endpoints.rest))
    monkeypatch.setenv("FERRY_SERVE_HOST", str(rest.hostname))
    monkeypatch.setenv("FERRY_SERVE_HTTP_PORT", str(rest.port))
    monkeypatch.setenv("FERRY_SERVE_GRPC_PORT", str(served.info.endpoints.grpc).rsplit(":", 1)[1])
    monkeypatch.setenv("DEPLOYMENT", NAME)
    monkeypatch.setenv("TOKEN", token)
    namespace: dict[str, Any] = {}
    exec(compile(block, "data-plane.md", "exec"), namespace)
    assert namespace["answer"].get_response().parameters["release_id"].string_param == \
        served.release_id
    assert [t.name for t in namespace["metadata"].inputs] == FEATURES
