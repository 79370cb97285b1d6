"""Every error answer of the control plane is built here, from the one error tree."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from ferry_contract import FerryError
from ferry_platform.core import REDACTOR


def error_response(exc: FerryError,
                   headers: list[tuple[bytes, bytes]] | None = None) -> JSONResponse:
    """``{"error": {"code", "message", "details"}}`` with the error's HTTP status, with
    every credential the redactor knows removed."""
    response = JSONResponse(REDACTOR.value(exc.to_body()), status_code=exc.status)
    for key, value in headers or []:
        response.headers[key.decode()] = value.decode()
    return response
