"""Dependency aliases for route functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ferry_contract import Unauthenticated
from ferry_platform import Platform
from ferry_platform.access import Principal
from ferry_platform.application import Application, route_resource


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_app(request: Request) -> Application:
    """The application layer: every route calls it, never the use cases around it."""
    app: Application = request.app.state.platform.app
    return app


AppDep = Annotated[Application, Depends(get_app)]


def get_principal(request: Request, app: AppDep) -> Principal:
    """The caller (authenticated by the middleware before the body was read), admitted to
    this route's operation by the policy (a predict-only token, a platform-admin route).
    Sync on purpose: a refusal is written to the audit log, off the event loop."""
    who: Principal | None = request.scope.get("state", {}).get("principal")
    if who is None:  # pragma: no cover - the middleware answers 401 first
        raise Unauthenticated("no API token: send 'Authorization: Bearer <token>'")
    route = request.scope.get("route")
    app.policy.admit(who, getattr(route, "name", ""),
                     route_resource(getattr(route, "path", ""), request.path_params))
    return who


PrincipalDep = Annotated[Principal, Depends(get_principal)]
