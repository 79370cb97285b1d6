from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ferry_contract import ErrorBody, FerryError, InvalidRequest
from ferry_platform import Platform, Settings, __version__
from ferry_server.routes import deployments, features, models, platform

log = logging.getLogger("ferry.server")

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in [(400, "Malformed request"), (404, "Not found"), (409, "Conflict"),
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

    app = FastAPI(
        title="Ferry control plane",
        version=__version__,
        description="Register models, deploy them as releases on Ray Serve, inspect and "
        "undeploy them. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        responses=ERROR_RESPONSES,
    )
    app.state.platform = plat

    @app.exception_handler(FerryError)
    async def _ferry_error(_: Request, exc: FerryError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, problems = _validation_message(exc)
        err = InvalidRequest(message, details={"problems": problems})
        return JSONResponse(err.to_body(), status_code=err.status)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        err = FerryError(f"internal error ({type(exc).__name__}); see the control-plane log")
        return JSONResponse(err.to_body(), status_code=500)

    app.include_router(platform.router)
    app.include_router(models.router)
    app.include_router(deployments.router)
    app.include_router(features.router)
    return app
