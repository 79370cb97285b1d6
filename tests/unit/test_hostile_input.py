"""What a hostile client sends never reaches the model, and never comes back as a 5xx.

The data plane, the first hop's checks, a real ``FerryReplica`` around a service that
records whether the model ran, and a real ``FerryRouter`` answering through it, all
without Ray. Each refusal must be a 4xx / INVALID_ARGUMENT-family answer from the error
tree naming the value; the same replica must still answer a good request afterwards.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from ferry_contract import (
    GRPC_ERROR_CODE_KEY,
    RELEASE_HEADER,
    ColumnSpec,
    InvalidInput,
    InvalidRequest,
    ModelError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from ferry_contract.proto import encode_request, parse_request, predict_pb2
from ferry_platform.core import ReleaseManifest
from ferry_platform.serving import MAX_ROWS, DataPlane
from ferry_platform.serving._ingress import (
    application_of,
    check_content_length,
    content_encoding,
    decode_body,
    parse_json,
    read_limited,
)
from ferry_platform.serving._replica import FerryReplica
from ferry_platform.serving._router import FerryRouter

SIG = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
       ColumnSpec(name="ratio", type="float"), ColumnSpec(name="seats", type="integer"),
       ColumnSpec(name="plan", type="string"), ColumnSpec(name="vip", type="boolean"),
       ColumnSpec(name="since", type="datetime"),
       ColumnSpec(name="score", type="double", required=False)]
GOOD = {"tenure": 3, "monthly": 10.5, "ratio": 0.5, "seats": 4, "plan": "pro", "vip": False,
        "since": "2026-01-31T12:00:00", "score": None}


class RecordingModel:
    """A model that counts its calls and answers 2 * tenure; it raises on tenure 13."""

    def __init__(self) -> None:
        self.calls = 0

    def predict_frame(self, frame: Any) -> Any:
        self.calls += 1
        if (frame["tenure"] == 13).any():
            raise ValueError("Found unknown categories ['13'] in column 0\nTraceback ...")
        return (frame["tenure"] * 2).to_numpy()

    def example_frame(self) -> Any:
        return None


def plane(model: RecordingModel) -> DataPlane:
    return DataPlane(SIG, model.predict_frame)


def columns(**changes: Any) -> dict[str, list[Any]]:
    return {k: [changes.get(k, v)] for k, v in GOOD.items()}


def refused(model: RecordingModel, cols: dict[str, list[Any]]) -> InvalidInput:
    before = model.calls
    with pytest.raises(InvalidInput) as exc:
        plane(model).predict(cols)
    assert model.calls == before, "the model ran on input that should have been refused"
    assert exc.value.status == 422
    return exc.value


# -- the data plane -----------------------------------------------------------------------
@pytest.mark.parametrize("column,value,shown", [
    ("monthly", math.inf, "Infinity"), ("monthly", -math.inf, "-Infinity"),
    ("monthly", math.nan, "NaN"), ("ratio", math.inf, "Infinity"),
    ("score", math.nan, "NaN"),  # nullable: null is fine, NaN is not
])
def test_infinity_and_nan_are_refused_before_the_model_runs(column: str, value: float,
                                                            shown: str) -> None:
    model = RecordingModel()
    err = refused(model, columns(**{column: value}))
    [problem] = err.details["problems"]
    assert (problem["column"], problem["row"], problem["problem"]) == (column, 0, "not_finite")
    assert f"column {column!r}" in err.message and shown in err.message and "row 0" in err.message
    assert ("null if the value is missing" in err.message) == (column == "score")


def test_json_infinity_literals_reach_validation_as_non_finite_numbers() -> None:
    model = RecordingModel()
    rows = [dict(GOOD), {**GOOD, "monthly": "__INF__"}, {**GOOD, "ratio": 1}]
    body = json.dumps({"inputs": rows}).replace('"__INF__"', "Infinity").encode()
    cols = plane(model).columns_from_records(parse_json(body)["inputs"])
    err = refused(model, cols)
    assert [(p["column"], p["row"]) for p in err.details["problems"]] == [("monthly", 1)]


@pytest.mark.parametrize("column,value", [
    ("tenure", 2**63), ("tenure", -(2**63) - 1), ("tenure", 2**70), ("seats", 2**31),
    ("seats", -(2**31) - 1), ("ratio", 3.5e38), ("ratio", 10**39), ("monthly", 10**400),
])
def test_numbers_past_the_columns_type_are_refused(column: str, value: float) -> None:
    err = refused(RecordingModel(), columns(**{column: value}))
    [problem] = err.details["problems"]
    assert problem["problem"] == "out_of_range" and problem["column"] == column
    assert f"column {column!r}" in err.message and "row 0" in err.message
    assert len(err.message) < 600  # a 400-digit number is shortened, not echoed


@pytest.mark.parametrize("column,value", [
    ("tenure", 2**63 - 1), ("tenure", -(2**63)), ("seats", 2**31 - 1), ("ratio", 3.4e38),
    ("monthly", 10**300), ("monthly", 1e308), ("score", None),
])
def test_the_edges_of_each_range_are_accepted(column: str, value: float) -> None:
    model = RecordingModel()
    assert len(plane(model).predict(columns(**{column: value}))) == 1
    assert model.calls == 1


@pytest.mark.parametrize("column", [c.name for c in SIG])
@pytest.mark.parametrize("value,got", [({"a": 1}, "object"), ([1, 2], "list"),
                                       ([[[[]]]], "list")])
def test_objects_and_lists_where_a_scalar_belongs_are_refused(column: str, value: Any,
                                                              got: str) -> None:
    err = refused(RecordingModel(), columns(**{column: value}))
    [problem] = err.details["problems"]
    assert (problem["column"], problem["problem"], problem["got"]) == (column, "wrong_type", got)
    assert f"got {got}" in err.message


@pytest.mark.parametrize("column,value", [("tenure", True), ("seats", False), ("monthly", True),
                                          ("vip", 1), ("vip", "true"), ("tenure", 3.0),
                                          ("plan", 7), ("since", "31/01/2026")])
def test_bools_ints_and_strings_do_not_stand_in_for_each_other(column: str, value: Any) -> None:
    err = refused(RecordingModel(), columns(**{column: value}))
    assert [p["column"] for p in err.details["problems"]] == [column]


@pytest.mark.parametrize("column", ["plan", "since"])
@pytest.mark.parametrize("rows", [1, 40])  # value by value, and the bulk check's columns
def test_half_a_surrogate_pair_is_refused_naming_it(column: str, rows: int) -> None:
    """JSON's escapes carry half of a UTF-16 pair ("\\ud800"); Python's json takes it as
    a str, but no UTF-8 writer (the prediction log, the model's encoders) can hold it."""
    cols = {k: v * rows for k, v in columns().items()}
    cols[column] = [*cols[column][:-1], "pro\ud800"]
    err = refused(RecordingModel(), cols)
    [problem] = err.details["problems"]
    assert (problem["column"], problem["row"]) == (column, rows - 1)
    assert "\\ud800" in err.message and "surrogate" in err.message
    json.dumps(err.message, ensure_ascii=False).encode("utf-8")  # the answer itself encodes


def test_a_huge_unknown_column_name_is_not_echoed_whole() -> None:
    model = RecordingModel()
    with pytest.raises(InvalidInput) as exc:
        plane(model).columns_from_records([{**GOOD, "k" * 1_000_000: 1}])
    assert len(exc.value.message) < 2_000 and len(json.dumps(exc.value.details)) < 10_000
    assert model.calls == 0


def test_every_problem_is_reported_at_once() -> None:
    err = refused(RecordingModel(), columns(tenure=2**64, monthly=math.inf, plan={"x": 1}))
    assert {p["column"] for p in err.details["problems"]} == {"tenure", "monthly", "plan"}


def test_a_model_that_raises_on_valid_input_is_a_model_error_not_a_retry() -> None:
    model = RecordingModel()
    with pytest.raises(ModelError) as exc:
        plane(model).predict(columns(tenure=13))
    assert model.calls == 1 and exc.value.status == 500 and exc.value.code == "model_error"
    assert "ValueError" in exc.value.message and "unknown categories" in exc.value.message
    assert "Traceback" not in exc.value.message and "retrying will not help" in exc.value.message


def test_row_cap_stays() -> None:
    with pytest.raises(InvalidRequest, match="limit"):
        plane(RecordingModel()).columns_from_records([GOOD] * (MAX_ROWS + 1))


# -- parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000,
                                  b'{"inputs": ' + b"{\"a\":" * 50_000 + b"1" + b"}" * 50_001])
def test_deeply_nested_json_is_a_400_not_a_recursion_error(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_json(body)
    assert exc.value.status == 400


def test_undecodable_grpc_bytes_are_invalid_request_naming_the_message() -> None:
    for raw in (b"\xff\xff\xff\xff", b"\x0a\x05abc", b"\x0a\x03\x0a\x01\xff"):
        with pytest.raises(InvalidRequest, match="not a ferry.v1.PredictRequest"):
            parse_request(raw)


def test_null_rows_past_the_column_are_refused() -> None:
    from ferry_contract.proto import decode_request

    req = encode_request({"x": [1.0, 2.0]})
    req.columns["x"].null_rows.append(7)
    with pytest.raises(InvalidRequest, match="'x': null_rows lists row 7"):
        decode_request(req)


# -- the first hop's checks ---------------------------------------------------------------
async def _chunks(parts: list[bytes], seen: list[int]) -> AsyncIterator[bytes]:
    for part in parts:
        seen.append(len(part))
        yield part


def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(PayloadTooLarge) as exc:
        check_content_length({"content-length": "2000"}, limit=1000)
    assert exc.value.status == 413 and "1,000 bytes" in exc.value.message
    assert "FERRY_SERVE_MAX_BODY_MB" in exc.value.message
    check_content_length({"content-length": "1000"}, limit=1000)
    with pytest.raises(InvalidRequest):
        check_content_length({"content-length": "lots"}, limit=1000)


def test_a_streamed_body_stops_being_read_at_the_limit() -> None:
    seen: list[int] = []
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_limited(_chunks([b"x" * 600] * 100, seen), limit=1000))
    assert sum(seen) == 1200  # two chunks, not a hundred
    assert asyncio.run(read_limited(_chunks([b"ab", b"cd"], []), limit=4)) == b"abcd"


def test_gzip_is_decoded_and_a_gzip_header_on_a_plain_body_is_a_400() -> None:
    plain = json.dumps({"inputs": [GOOD]}).encode()
    assert decode_body(gzip.compress(plain), "gzip", limit=10_000) == plain
    with pytest.raises(InvalidRequest, match="not gzip data") as exc:
        decode_body(plain, "gzip", limit=10_000)
    assert exc.value.status == 400
    with pytest.raises(InvalidRequest, match="truncated"):
        decode_body(gzip.compress(plain)[:-12], "gzip", limit=10_000)


def test_a_gzip_bomb_is_refused_at_the_limit_of_decompressed_bytes() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge, match="decompressed"):
        decode_body(bomb, "gzip", limit=1_000_000)


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, br", "x" * 500])
def test_other_encodings_are_415(encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType) as exc:
        content_encoding({"content-encoding": encoding})
    assert exc.value.status == 415 and len(exc.value.message) < 300
    assert content_encoding({}) == "identity" and content_encoding(
        {"content-encoding": " GZIP "}) == "gzip"


def test_a_grpc_call_without_application_metadata_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidRequest) as exc:
        application_of([("user-agent", "grpc-python")], "churn", "application")
    assert "'application'" in exc.value.message and "'churn'" in exc.value.message
    assert application_of([("application", "churn")], "churn", "application") == "churn"


# -- a real replica and router around the recording model ---------------------------------
def manifest() -> ReleaseManifest:
    return ReleaseManifest(release_id="churn-v1-abc", model="churn", version=1,
                           model_uri="models:/m-1", model_digest="sha256:0",
                           training_data_digest="sha256:1", code_version="git:0",
                           framework="sklearn", signature=SIG, ferry_version="0",
                           bento_tag="churn:abc")


class Context:
    """The part of Serve's gRPC context the router and replica use."""

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


# The token check passes (tests/unit/test_router_auth.py tests it): these tests are about
# what comes after it.
ACCESS = {"anonymous": True, "tokens": {}}


@pytest.fixture
def served() -> tuple[FerryRouter, RecordingModel]:
    model = RecordingModel()
    replica = FerryReplica({"protocol": "auto", "max_body_bytes": 200_000},
                           loaded=(manifest(), model))
    router = FerryRouter("churn", max_body_bytes=200_000)
    router.reconfigure({"generation": 1, "access": ACCESS, "routes": [
        {"release_id": "churn-v1-abc", "app": "churn.churn-v1-abc", "weight": 100}]})
    router._local = ("churn-v1-abc", replica)  # the in-process path of the main release
    model.calls = 0
    return router, model


def rest(router: FerryRouter, body: bytes, headers: dict[str, str] | None = None,
         method: str = "POST", chunk: int = 65_536) -> tuple[int, dict[str, Any], dict[str, str]]:
    from starlette.requests import Request

    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
                for i, p in enumerate(parts)]
    hdrs = {"content-length": str(len(body)), **(headers or {})}

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": method, "path": "/churn/predict", "headers":
             [(k.lower().encode(), v.encode()) for k, v in hdrs.items()], "query_string": b""}
    response = asyncio.run(router(Request(scope, receive)))
    return response.status_code, json.loads(response.body), dict(response.headers)


def good_body() -> bytes:
    return json.dumps({"inputs": [GOOD, {**GOOD, "tenure": 5}]}).encode()


def still_serves(router: FerryRouter, model: RecordingModel) -> None:
    status, payload, headers = rest(router, good_body())
    assert status == 200 and payload["predictions"] == [6, 10]
    assert headers[RELEASE_HEADER] == "churn-v1-abc" and model.calls == 1


@pytest.mark.parametrize("body,headers,status,code,fragment", [
    (json.dumps({"inputs": [{**GOOD, "monthly": "INF"}]}).replace('"INF"', "-Infinity")
     .encode(), {}, 422, "invalid_input", "-Infinity"),
    (json.dumps({"inputs": [{**GOOD, "tenure": "NAN"}]}).replace('"NAN"', "NaN").encode(), {},
     422, "invalid_input", "NaN"),
    (json.dumps({"inputs": [{**GOOD, "tenure": 2**70}]}).encode(), {}, 422, "invalid_input",
     "1180591620717411303424"),
    (json.dumps({"inputs": [{**GOOD, "plan": {"$gt": ""}}]}).encode(), {}, 422, "invalid_input",
     "got object"),
    (json.dumps({"inputs": [{**GOOD, "plan": "\ud800"}]}).encode(), {}, 422, "invalid_input",
     "surrogate"),
    (b"[" * 100_000, {}, 400, "invalid_request", "nested too deeply"),
    (good_body(), {"content-encoding": "gzip"}, 400, "invalid_request", "not gzip data"),
    (good_body(), {"content-encoding": "br"}, 415, "unsupported_media_type", "'br'"),
    (b"x" * 200_001, {}, 413, "too_large", "200,000 bytes"),
    (gzip.compress(b" " * 300_000 + good_body()), {"content-encoding": "gzip"}, 413,
     "too_large", "decompressed"),
], ids=["-inf", "nan", "2**70", "object", "lone-surrogate", "deep", "gzip-header-plain-body",
        "brotli", "too-large", "gzip-bomb"])
def test_hostile_rest_bodies_are_refused_at_the_router_and_the_model_never_runs(
        served: tuple[FerryRouter, RecordingModel], body: bytes, headers: dict[str, str],
        status: int, code: str, fragment: str) -> None:
    router, model = served
    got, payload, _ = rest(router, body, headers)
    assert (got, payload["error"]["code"]) == (status, code), payload
    assert fragment in payload["error"]["message"] and model.calls == 0
    still_serves(router, model)


def test_an_oversized_chunked_body_is_refused_without_a_content_length(
        served: tuple[FerryRouter, RecordingModel]) -> None:
    from starlette.requests import Request

    router, model = served
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        sent.append(1)
        return {"type": "http.request", "body": b"x" * 50_000, "more_body": True}

    scope = {"type": "http", "method": "POST", "path": "/churn/predict",
             "headers": [(b"transfer-encoding", b"chunked")], "query_string": b""}
    response = asyncio.run(router(Request(scope, receive)))
    assert response.status_code == 413 and len(sent) == 5 and model.calls == 0


def test_gzip_bodies_are_served(served: tuple[FerryRouter, RecordingModel]) -> None:
    router, model = served
    status, payload, _ = rest(router, gzip.compress(good_body()), {"content-encoding": "gzip"})
    assert status == 200 and payload["predictions"] == [6, 10]


def test_a_model_crash_is_a_500_model_error_naming_the_release_never_a_retry(
        served: tuple[FerryRouter, RecordingModel]) -> None:
    router, model = served
    status, payload, headers = rest(router, json.dumps({"inputs": [{**GOOD, "tenure": 13}]})
                                    .encode())
    assert status == 500 and payload["error"]["code"] == "model_error"
    assert payload["error"]["release_id"] == "churn-v1-abc" == headers[RELEASE_HEADER]
    assert "retry" not in payload["error"]["message"].replace("retrying will not help", "")


def test_a_request_with_no_release_taking_traffic_is_no_release(
        served: tuple[FerryRouter, RecordingModel]) -> None:
    router, _ = served
    router.reconfigure({"generation": 2, "access": ACCESS, "routes": []})
    status, payload, _ = rest(router, good_body())
    assert (status, payload["error"]["code"]) == (503, "no_release")


def grpc_call(router: FerryRouter, raw: bytes,
              metadata: list[tuple[str, str]] | None = None) -> tuple[Context, Any]:
    ctx = Context([("application", "churn")] if metadata is None else metadata)
    response = asyncio.run(router.Predict(raw, ctx))
    return ctx, response


def grpc_good(router: FerryRouter, model: RecordingModel) -> None:
    ctx, response = grpc_call(router, encode_request(columns()).SerializeToString())
    assert ctx.code is None and list(response.predictions.int64s.values) == [6]
    assert ctx.trailing[RELEASE_HEADER] == "churn-v1-abc" and model.calls == 1


@pytest.mark.parametrize("raw,metadata,status,code,fragment", [
    (b"\xff\xff\xff\xff", None, "INVALID_ARGUMENT", "invalid_request", "PredictRequest"),
    (encode_request(columns(monthly=math.inf)).SerializeToString(), None, "INVALID_ARGUMENT",
     "invalid_input", "Infinity"),
    (encode_request(columns(seats=2**40)).SerializeToString(), None, "INVALID_ARGUMENT",
     "invalid_input", "32-bit"),
    (encode_request(columns()).SerializeToString(), [], "INVALID_ARGUMENT", "invalid_request",
     "'application'"),
    (encode_request({**columns(), "plan": ["x" * 100] * 3_000}).SerializeToString(), None,
     "RESOURCE_EXHAUSTED", "too_large", "200,000 bytes"),
], ids=["not-protobuf", "infinity", "int-past-32-bit", "no-application", "too-large"])
def test_hostile_grpc_messages_are_refused_at_the_router_and_the_model_never_runs(
        served: tuple[FerryRouter, RecordingModel], raw: bytes,
        metadata: list[tuple[str, str]] | None, status: str, code: str, fragment: str) -> None:
    router, model = served
    ctx, response = grpc_call(router, raw, metadata)
    assert ctx.code == getattr(grpc.StatusCode, status), ctx.details
    assert ctx.trailing[GRPC_ERROR_CODE_KEY] == code and fragment in ctx.details
    assert isinstance(response, predict_pb2.PredictResponse) and model.calls == 0
    grpc_good(router, model)


def test_a_release_that_raised_is_its_error_and_only_one_that_did_not_answer_is_a_retry() -> None:
    import ray.exceptions
    from ray.serve.exceptions import BackPressureError

    router = FerryRouter("churn")
    raised = router._release_error("r-1", ray.exceptions.RayTaskError(
        "handle", "Traceback (most recent call last): ...", TypeError("boom")))
    assert (raised.code, raised.status) == ("internal", 500)
    assert "retry" not in raised.message and "Traceback" not in raised.message
    for gone in (ray.exceptions.ActorDiedError(), BackPressureError(num_queued_requests=9,
                                                                   max_queued_requests=8)):
        err = router._release_error("r-1", gone)
        assert (err.code, err.status) == ("release_unavailable", 503) and "retry" in err.message


def test_a_long_list_of_problems_fits_a_grpc_status(served: tuple[FerryRouter, RecordingModel],
                                                    ) -> None:
    router, model = served
    wide = DataPlane([ColumnSpec(name=f"column_with_a_long_name_{i:03d}", type="double")
                      for i in range(400)], model.predict_frame)
    replica = router._local[1]  # type: ignore[index]
    replica.plane = replica.request_plane = wide
    cols = {c.name: ["x"] for c in wide.columns}
    ctx, _ = grpc_call(router, encode_request(cols).SerializeToString())
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT and len(ctx.details) <= 4000
    assert ctx.details.endswith("(cut; the REST answer lists every problem)")


# -- the token check comes first ------------------------------------------------------------
def test_without_a_valid_token_nothing_is_read_and_the_model_never_runs(
        served: tuple[FerryRouter, RecordingModel]) -> None:
    import hashlib

    router, model = served
    local = router._local
    router.reconfigure({"generation": 3, "access": {"anonymous": False, "tokens": {
        hashlib.sha256(b"fy_good").hexdigest(): None}}, "routes": [
        {"release_id": "churn-v1-abc", "app": "churn.churn-v1-abc", "weight": 100}]})
    router._local = local
    for headers in ({}, {"authorization": "Bearer fy_bad"}):
        # even a body over the limit, or not gzip: the token is checked before it is read
        status, payload, answer = rest(router, b"x" * 300_000, headers)
        assert (status, payload["error"]["code"]) == (401, "unauthenticated")
        assert answer["www-authenticate"] == "Bearer"
        ctx, _ = grpc_call(router, b"\xff\xff", [("application", "churn"),
                                                 *headers.items()])
        assert ctx.code == grpc.StatusCode.UNAUTHENTICATED
    assert model.calls == 0
    status, payload, _ = rest(router, good_body(), {"authorization": "Bearer fy_good"})
    assert status == 200 and model.calls == 1


def test_a_release_replicas_own_port_is_not_an_entry_point() -> None:
    """Serve opens a direct-ingress port per replica; a request there must not reach the
    model around the router's token check."""
    from starlette.requests import Request

    model = RecordingModel()
    replica = FerryReplica({"protocol": "auto", "max_body_bytes": 200_000},
                           loaded=(manifest(), model))
    model.calls = 0
    messages = [{"type": "http.request", "body": good_body(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [],
             "query_string": b""}
    response = asyncio.run(replica(Request(scope, receive)))
    assert response.status_code == 403 and b"router" in response.body
    ctx = Context([])
    asyncio.run(replica.Predict(encode_request(columns()).SerializeToString(), ctx))
    assert ctx.code == grpc.StatusCode.PERMISSION_DENIED
    assert model.calls == 0


def test_metadata_never_shows_a_credential_from_the_models_requirements() -> None:
    """Anyone who may predict reads /metadata: a private package's git URL with its token
    (common in requirements.txt) is shown masked."""
    secret = "glpat-Zx81kq3Ltr"
    release = manifest().model_copy(update={"requirements": [
        f"billing @ git+https://oauth2:{secret}@gitlab.example/pkgs/billing.git",
        "numpy==2.1.0"]})
    body = json.loads(FerryReplica({"protocol": "auto"}, loaded=(release, RecordingModel()))
                      ._metadata)
    assert secret not in json.dumps(body) and "numpy==2.1.0" in body["requirements"]
    assert any("gitlab.example/pkgs/billing.git" in r for r in body["requirements"])
