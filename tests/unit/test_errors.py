from __future__ import annotations

import pytest

from ferry_contract import (
    Conflict,
    DeploymentNotFound,
    FerryError,
    InvalidInput,
    InvalidRequest,
    ModelNotFound,
    PlatformUnavailable,
    ReleaseFailed,
    VersionNotFound,
    error_class_for,
    error_from_body,
)


@pytest.mark.parametrize("cls,status", [
    (InvalidRequest, 400), (InvalidInput, 422), (ModelNotFound, 404), (VersionNotFound, 404),
    (DeploymentNotFound, 404), (Conflict, 409), (ReleaseFailed, 422),
    (PlatformUnavailable, 503),
])
def test_round_trip_keeps_class_message_and_details(cls: type[FerryError], status: int) -> None:
    err = cls("bad value 'x'; use 'y'", details={"column": "x"})
    assert err.status == status
    back = error_from_body(err.to_body(), status=err.status)
    assert type(back) is cls
    assert back.message == err.message and back.details == {"column": "x"}


def test_codes_are_unique() -> None:
    seen: dict[str, type] = {}
    stack = [FerryError]
    while stack:
        cls = stack.pop()
        assert cls.code not in seen, f"{cls} reuses {cls.code} of {seen.get(cls.code)}"
        seen[cls.code] = cls
        stack.extend(cls.__subclasses__())
    assert error_class_for("no-such-code") is FerryError


def test_foreign_error_body_keeps_status_meaning() -> None:
    assert isinstance(error_from_body("<html>gateway</html>", status=503), PlatformUnavailable)
    assert isinstance(error_from_body({"detail": "x"}, status=404), FerryError)
