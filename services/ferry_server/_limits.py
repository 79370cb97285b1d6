"""Request bodies over their route's limit get a 413 before (or while) a route reads them.

Every route has the default limit, ``FERRY_MAX_BODY_MB``. A route that takes more declares
the setting that bounds it in its ``openapi_extra`` (it shows in the OpenAPI document)::

    @router.post("/{name}/logged-models", openapi_extra=body_limit("max_model_mb"))

FastAPI's own ``max_body_size`` is fixed where a route is declared; these limits come from
the settings the app is built with, and the 413 names the variable to change.

Nothing is buffered here: a declared ``Content-Length`` over the limit is refused at once,
and a body without one (chunked) is counted as the route reads it; past the limit the
route's reading stops, and whatever it would have answered is replaced by the 413.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from ferry_contract import PayloadTooLarge

Scope = dict[str, Any]
LIMIT_KEY = "x-ferry-body-limit"
DEFAULT_SETTING = "max_body_mb"


def body_limit(setting: str) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body is bounded by ``setting`` (a Settings field
    in MiB) instead of FERRY_MAX_BODY_MB."""
    return {LIMIT_KEY: setting}


@dataclass(frozen=True)
class Limit:
    max_bytes: int
    setting: str  # the Settings field, named in the 413's message

    @property
    def variable(self) -> str:
        return f"FERRY_{self.setting.upper()}"


@dataclass(frozen=True)
class RouteLimit:
    methods: frozenset[str]
    path: re.Pattern[str]
    limit: Limit


def route_limits(app: FastAPI, settings: Any) -> list[RouteLimit]:
    """The routes of ``app`` that declare their own limit, resolved against ``settings``."""
    found = []
    for context in iter_route_contexts(app.routes):  # routes of included routers too
        route = context.route
        setting = (getattr(route, "openapi_extra", None) or {}).get(LIMIT_KEY)
        if isinstance(route, APIRoute) and setting:
            mib = float(getattr(settings, setting))
            found.append(RouteLimit(frozenset(route.methods or ()), route.path_regex,
                                    Limit(int(mib * 2**20), setting)))
    return found


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: bodies larger than their route's limit get a 413 error body."""

    def __init__(self, app: Any, max_bytes: int, routes: list[RouteLimit] | None = None) -> None:
        self.app = app
        self.default = Limit(max_bytes, DEFAULT_SETTING)
        self.routes = routes or []

    def limit_for(self, method: str, path: str) -> Limit:
        for route in self.routes:
            if method in route.methods and route.path.match(path):
                return route.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("method", ""), scope.get("path", ""))
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = 0
            if declared > limit.max_bytes:
                await self._refuse(send, declared, limit)
                return
        size = 0
        over = False
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal size, over
            if over:
                return {"type": "http.disconnect"}
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def guarded(message: dict[str, Any]) -> None:
            nonlocal started
            if over:  # the route's answer to a cut-off body is replaced by the 413
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, size, limit)

    @staticmethod
    async def _refuse(send: Any, size: int, limit: Limit) -> None:
        err = PayloadTooLarge(
            f"the request body ({size:,} bytes so far) exceeds this route's limit of "
            f"{limit.max_bytes:,} bytes ({limit.variable}); send less per request (e.g. split "
            f"a training set's entity rows), or ask the operator to raise {limit.variable}.",
            details={"limit_bytes": limit.max_bytes, "setting": limit.variable})
        payload = err.to_json()
        await send({"type": "http.response.start", "status": err.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
