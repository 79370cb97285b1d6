from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferry_contract import ErrorBody, FerryError, InvalidRequest, error_class_for_status
from ferry_platform import Platform, Settings, __version__
from ferry_platform.core import REDACTOR, unavailable
from ferry_server._auth import Authenticate
from ferry_server._errors import error_response
from ferry_server._limits import BodyLimit, route_limits
from ferry_server.routes import (
    audit,
    deployments,
    evaluations,
    features,
    jobs,
    models,
    monitoring,
    platform,
    releases,
    teams,
    tokens,
    users,
)

log = logging.getLogger("ferry.server")

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [(400, "Malformed request"), (401, "No valid API token"),
                         (403, "The caller's role does not allow it"), (404, "Not found"),
                         (405, "Method not allowed"), (409, "Conflict"),
                         (413, "Request body too large"), (415, "Unsupported media type"),
                         (422, "Refused input or release"), (503, "Platform unavailable")]
}


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids: the route function's name (e.g. ``create_deployment``)."""
    return route.name


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, object]]]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append({"field": loc or "body", "problem": err.get("msg", ""),
                         "got": repr(err.get("input"))[:80]})
    text = "; ".join(f"{p['field']}: {p['problem']} (got {p['got']})" for p in problems[:10])
    return f"invalid request: {text}", problems


def create_app(settings: Settings | None = None, *, platform_obj: Platform | None = None,
               start_runtime: bool = True) -> FastAPI:
    """Build the control-plane app. ``platform_obj`` lets tests pass a prebuilt platform."""
    settings = settings or (platform_obj.settings if platform_obj else Settings())
    plat = platform_obj or Platform.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_runtime:
            plat.start()
        try:
            yield
        finally:
            if start_runtime:
                plat.stop()

    app = _api(lifespan)
    # Outermost last: authenticate first (401 before anything is read), then the size limit.
    app.add_middleware(BodyLimit, max_bytes=int(settings.max_body_mb * 2**20),
                       routes=route_limits(app, settings))
    app.add_middleware(Authenticate, access=plat.access)
    app.state.platform = plat
    hint = plat.prepare()
    if hint:
        log.warning(hint)

    @app.exception_handler(FerryError)
    async def _ferry_error(_: Request, exc: FerryError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, problems = _validation_message(exc)
        return error_response(InvalidRequest(message, details={"problems": problems}))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 400 and "pars" in message:
            message = f"{message}: send a JSON body with content-type application/json"
        err = error_class_for_status(exc.status_code)(REDACTOR(message))
        return JSONResponse(REDACTOR.value(err.to_body()), status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        down = unavailable(exc)
        if down is not None:  # a database or Redis: a 503, and one log line, not a traceback
            log.error("%s (%s: %s)", down.message, type(exc).__name__, exc)
            return error_response(down)
        log.exception("unhandled error")
        return error_response(FerryError(
            f"internal error ({type(exc).__name__}); see the control-plane log"))

    return app


DESCRIPTION = """\
The one API every Ferry surface (SDK, CLI, portal) goes through: register models, deploy
them as releases on Ray Serve, evaluate candidates against their champion and a baseline,
roll them out (canary, A/B, shadow; promote, rollback), follow long operations as jobs,
manage versioned features, teams, tokens and the audit log.

Authenticate with `Authorization: Bearer <token>` (`ferry login`); only `/v1/health` is
open, and any other request without a valid token is answered 401 before it is read. Who
may do what is one table (docs/security.md). Errors are
`{"error": {"code", "message", "details"}}` with a stable `code`.
"""


def _api(lifespan: Any = None) -> FastAPI:
    app = FastAPI(title="Ferry control plane", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, generate_unique_id_function=_operation_id,
                  responses=ERROR_RESPONSES)
    for module in (platform, models, evaluations, releases, deployments, monitoring, jobs,
                   features, teams, users, tokens, audit):
        app.include_router(module.router)
    return app


def openapi_spec() -> dict[str, Any]:
    """The API's OpenAPI document, without building a platform."""
    spec: dict[str, Any] = _api().openapi()
    return spec
