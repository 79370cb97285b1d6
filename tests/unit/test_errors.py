"""One error tree end to end: every code is a class with its status; bodies come from one
helper; the SDK rebuilds the exact class from a body or a gRPC status, and maps a code it
does not know by its status, keeping the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import grpc
import pytest

import ferry
from ferry._deployment import _grpc_error
from ferry_contract import (
    GRPC_ERROR_CODE_KEY,
    Conflict,
    DeploymentNotFound,
    FerryError,
    Forbidden,
    Interrupted,
    InvalidInput,
    InvalidRequest,
    MethodNotAllowed,
    ModelError,
    NoRelease,
    NotFound,
    PayloadTooLarge,
    PlatformUnavailable,
    ProtocolNotServed,
    ReleaseUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    error_class_for,
    error_classes,
    error_from_body,
    error_from_grpc,
    is_known_code,
)

ROOT = Path(__file__).resolve().parents[2]
ALL = error_classes()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.code)
def test_every_class_round_trips_to_exactly_itself(cls: type[FerryError]) -> None:
    err = cls("bad value 'x'; use 'y'", details={"column": "x"})
    body = err.to_body(release_id="r-1")
    assert body == {"error": {"code": cls.code, "message": "bad value 'x'; use 'y'",
                              "details": {"column": "x"}, "release_id": "r-1"}}
    back = error_from_body(body, status=cls.status)
    assert type(back) is cls
    assert (back.code, back.status, back.message, back.details) == \
        (cls.code, cls.status, err.message, {"column": "x"})
    # and over gRPC, with the code the data plane puts in the trailing metadata
    over_grpc = error_from_grpc(cls.grpc_status, err.message, cls.code)
    assert type(over_grpc) is cls and over_grpc.message == err.message


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.code)
def test_every_class_is_exported_by_the_sdk_with_a_real_status(cls: type[FerryError]) -> None:
    assert getattr(ferry, cls.__name__) is cls
    assert 400 <= cls.status <= 599
    assert cls.grpc_status in grpc.StatusCode.__members__ and cls.grpc_status != "OK"


def test_codes_are_unique_and_unknown_ones_are_unknown() -> None:
    codes = [cls.code for cls in ALL]
    assert len(codes) == len(set(codes))
    assert not is_known_code("no-such-code") and error_class_for("no-such-code") is FerryError


@pytest.mark.parametrize("status,cls", [
    (400, InvalidRequest), (401, Unauthenticated), (403, Forbidden), (404, NotFound),
    (405, MethodNotAllowed), (409, Conflict), (413, PayloadTooLarge),
    (415, UnsupportedMediaType), (418, InvalidRequest), (422, InvalidRequest),
    (429, PlatformUnavailable), (500, FerryError), (502, PlatformUnavailable),
    (503, PlatformUnavailable), (504, PlatformUnavailable),
])
def test_an_unknown_code_maps_by_status_and_keeps_code_and_status(
        status: int, cls: type[FerryError]) -> None:
    body = {"error": {"code": "brand_new_code", "message": "from a newer server",
                      "details": {"k": 1}}}
    err = error_from_body(body, status=status)
    assert type(err) is cls
    assert (err.code, err.status, err.message, err.details) == \
        ("brand_new_code", status, "from a newer server", {"k": 1})
    foreign = error_from_body("<html>gateway</html>", status=status)
    assert type(foreign) is cls and foreign.status == status and "gateway" in foreign.message


EXPECTED_BY_GRPC = {
    "CANCELLED": PlatformUnavailable, "UNKNOWN": FerryError, "INVALID_ARGUMENT": InvalidRequest,
    "DEADLINE_EXCEEDED": PlatformUnavailable, "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": Conflict, "PERMISSION_DENIED": Forbidden,
    "RESOURCE_EXHAUSTED": PlatformUnavailable, "FAILED_PRECONDITION": Conflict,
    "ABORTED": Conflict, "OUT_OF_RANGE": InvalidRequest, "UNIMPLEMENTED": ProtocolNotServed,
    "INTERNAL": FerryError, "UNAVAILABLE": PlatformUnavailable, "DATA_LOSS": FerryError,
    "UNAUTHENTICATED": Unauthenticated,
}


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What a failed ``stub.Predict.with_call`` raises: an RpcError that is also a Call."""

    def __init__(self, code: grpc.StatusCode, details: str,
                 trailing: tuple[tuple[str, str], ...] = ()) -> None:
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailing

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


@pytest.mark.parametrize("status", [s for s in grpc.StatusCode if s is not grpc.StatusCode.OK],
                         ids=lambda s: s.name)
def test_the_sdk_maps_every_grpc_status(status: grpc.StatusCode) -> None:
    assert set(EXPECTED_BY_GRPC) == {s.name for s in grpc.StatusCode} - {"OK"}
    err = _grpc_error(FakeRpcError(status, "what went wrong"), "churn")
    assert type(err) is EXPECTED_BY_GRPC[status.name]
    assert "what went wrong" in err.message


@pytest.mark.parametrize("cls", [InvalidInput, ModelError, NoRelease, ReleaseUnavailable,
                                 PayloadTooLarge, ProtocolNotServed], ids=lambda c: c.code)
def test_the_code_in_grpc_trailing_metadata_gives_the_exact_class(cls: type[FerryError]) -> None:
    err = _grpc_error(FakeRpcError(getattr(grpc.StatusCode, cls.grpc_status), "msg",
                                   (("x-ferry-release", "r-1"), (GRPC_ERROR_CODE_KEY, cls.code))),
                      "churn")
    assert type(err) is cls and err.message == "msg"


def test_grpc_answers_from_serve_and_grpc_itself_are_explained() -> None:
    too_big = _grpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                       "Received message larger than max (20000000 vs. 16777216)"),
                          "churn")
    assert type(too_big) is PayloadTooLarge and "FERRY_SERVE_MAX_BODY_MB" in too_big.message
    missing = _grpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND,
                                       "Application 'nope' not found. Ping ..."), "nope")
    assert type(missing) is DeploymentNotFound and "'nope'" in missing.message
    busy = _grpc_error(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    "Request dropped due to backpressure"), "churn")
    assert type(busy) is PlatformUnavailable


def test_a_failed_jobs_record_comes_back_as_its_class() -> None:
    record = Interrupted("interrupted: the control plane stopped").to_record()
    assert record["status"] == 409 and record["code"] == "interrupted"
    back = error_from_body({"error": record}, status=record["status"])
    assert type(back) is Interrupted


SOURCES = [p for d in ("platform", "services", "sdk") for p in (ROOT / d).rglob("*.py")
           if ".venv" not in p.parts]
ERRORS_MODULE = ROOT / "sdk" / "ferry_contract" / "_errors.py"


def test_no_error_body_is_built_by_hand() -> None:
    """Error bodies come from FerryError.to_body/to_json/to_record only: a dict with a
    "code" key, or an error built with an ad-hoc code=..., anywhere else is a body whose
    code may not be in the tree."""
    assert len(SOURCES) > 50
    by_hand = re.compile(r"""["']code["']\s*:|\bcode\s*=\s*["']""")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES if p != ERRORS_MODULE
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if by_hand.search(line)]
    assert offenders == []


def test_the_cli_prints_an_error_with_brackets_as_text_not_markup(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Data-plane messages quote ranges and paths in brackets; rich must not parse them."""
    import typer

    from ferry.cli._common import user_errors

    message = ("column 'tenure' expects long, got 2**70, outside the 64-bit integer range "
               "[-9223372036854775808, 9223372036854775807] in row 0 [/tmp/x.cfg:93]")
    with pytest.raises(typer.Exit) as exc, user_errors():
        raise InvalidInput(message)
    assert exc.value.exit_code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "(invalid_input)" in err and "[-9223372036854775808, 9223372036854775807]" in err
    assert "[/tmp/x.cfg:93]" in err
