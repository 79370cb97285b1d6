"""The portal's router: every page, fragment and action, and its static files."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request, Response
from fastapi.responses import FileResponse

from ferry_contract import PlatformUnavailable
from ferry_server.portal import (  # noqa: F401 - they register routes
    _actions,
    _monitoring,
    _pages,
    _signin,
)
from ferry_server.portal._assets import Assets
from ferry_server.portal._web import PORTAL_PREFIX, router

portal_router = router

_CACHE = {"Cache-Control": "public, max-age=86400, immutable"}


def _assets(request: Request) -> Assets:
    found: Assets = request.app.state.portal_assets
    return found


@router.get("/vendor/{name}")
def vendor_file(request: Request, name: Annotated[str, Path(max_length=60)]) -> Response:
    """A third-party file from node_modules (installed by `make install`)."""
    path = _assets(request).vendor_file(name)
    if path is None:
        raise PlatformUnavailable(f"the portal's front-end file {name!r} is not installed; "
                                  "run `make install` (npm ci)")
    return FileResponse(path, media_type="text/javascript", headers=_CACHE)


@router.get("/static/{name}")
def static_file(request: Request, name: Annotated[str, Path(max_length=60)]) -> Response:
    path = _assets(request).static_file(name)
    if path is None:
        return Response(status_code=404)
    kind = "text/css" if name.endswith(".css") else "text/javascript" \
        if name.endswith(".js") else "application/octet-stream"
    return FileResponse(path, media_type=kind, headers=_CACHE)


__all__ = ["PORTAL_PREFIX", "portal_router"]
