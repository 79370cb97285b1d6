from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response
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
from ferry_server.portal import PORTAL_PREFIX, Assets, portal_router
from ferry_server.portal._web import SECURITY_HEADERS, error_page
from ferry_server.routes import (
    audit,
    batch,
    deployments,
    evaluations,
    features,
    jobs,
    models,
    monitoring,
    platform,
    portal,
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
    app.add_middleware(PortalGuard, assets=Assets.from_setting(settings.portal_assets))
    app.state.platform = plat
    app.state.portal_assets = Assets.from_setting(settings.portal_assets)
    hint = plat.prepare()
    if hint:
        log.warning(hint)

    def answer(request: Request, err: FerryError, headers: Any = None) -> Response:
        """The error as the API answers it (JSON), or as the portal shows it (HTML)."""
        if _portal(request.url.path):
            return error_page(request, err)
        if headers is not None:
            return JSONResponse(REDACTOR.value(err.to_body()), status_code=err.status,
                                headers=headers)
        return error_response(err)

    @app.exception_handler(FerryError)
    async def _ferry_error(request: Request, exc: FerryError) -> Response:
        if _portal(request.url.path):  # rendering may read the session: off the loop
            return await anyio.to_thread.run_sync(error_page, request, exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        message, problems = _validation_message(exc)
        return answer(request, InvalidRequest(message, details={"problems": problems}))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if exc.status_code == 400 and "pars" in message:
            message = f"{message}: send a JSON body with content-type application/json"
        err = error_class_for_status(exc.status_code)(REDACTOR(message))
        return answer(request, err, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        down = unavailable(exc)
        if down is not None:  # a database or Redis: a 503, and one log line, not a traceback
            log.error("%s (%s: %s)", down.message, type(exc).__name__, exc)
            return answer(request, down)
        log.exception("unhandled error")
        return answer(request, FerryError(
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
                   batch, features, teams, users, tokens, audit, portal):
        app.include_router(module.router)
    app.include_router(portal_router)  # HTML pages: not part of the API's description
    return app


def _portal(path: str) -> bool:
    return path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/")


class PortalGuard:
    """ASGI middleware for the portal's paths: the security headers on every answer (a
    strict Content-Security-Policy, no framing, no referrer), and a 503 naming the fix when
    its front-end packages are not installed (the API is not concerned)."""

    def __init__(self, app: Any, assets: Assets) -> None:
        self.app = app
        self.assets = assets
        self._ready = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _portal(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        if not self._ready:
            missing = self.assets.missing()
            if missing:
                body = (f"<!doctype html><title>Ferry portal unavailable</title><h1>The portal "
                        f"is not installed</h1><p>Its front-end packages are missing under "
                        f"{html.escape(str(self.assets.node_modules))} ("
                        f"{html.escape(', '.join(missing))}). Run <code>make install</code> "
                        f"(it runs <code>npm ci</code>), or point FERRY_PORTAL_ASSETS at an "
                        f"installed node_modules, and restart the control plane. The API "
                        f"(/v1) works without it.</p>").encode()
                headers = [(b"content-type", b"text/html; charset=utf-8"),
                           (b"content-length", str(len(body)).encode())]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            self._ready = True

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                    if k.encode() not in present]
                if b"cache-control" not in present:
                    message["headers"].append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, with_headers)


def openapi_spec() -> dict[str, Any]:
    """The API's OpenAPI document, without building a platform."""
    spec: dict[str, Any] = _api().openapi()
    return spec
