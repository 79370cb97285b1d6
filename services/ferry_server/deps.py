"""Dependency aliases for route functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ferry_platform import Platform
from ferry_platform.access import Principal

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer fy_...`")


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


async def get_principal(
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from its bearer token (401 without a valid one). Async: the lookup is
    one indexed query, cheaper than a hop to the thread pool."""
    principal = platform.access.authenticate(credentials.credentials if credentials else None)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
