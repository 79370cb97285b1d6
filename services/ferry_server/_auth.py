"""Authentication before anything else: every request but the open ones must carry a valid
bearer token, checked before its body is read or its route is matched, so a request
without one is answered 401 whatever else is wrong with it."""

from __future__ import annotations

from typing import Any

import anyio

from ferry_contract import FerryError, Unauthenticated
from ferry_platform.access import AccessService
from ferry_server._errors import error_response

OPEN_PATHS = frozenset({"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                        "/redoc"})
PORTAL = "/portal"
"""The portal's pages authenticate with their session cookie (ferry_server.portal), not
a bearer token: the same callers, the same policy."""


def bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None if absent)."""
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class Authenticate:
    """ASGI middleware: puts the caller (a :class:`Principal`) in ``scope["state"]``; a
    token found in the cache costs no I/O, a miss is looked up on a worker thread."""

    def __init__(self, app: Any, access: AccessService) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path == PORTAL \
                or path.startswith(PORTAL + "/"):
            await self.app(scope, receive, send)
            return
        secret = bearer(scope.get("headers") or [])
        try:
            who = self.access.cached(secret) if secret else None
            if who is None:
                who = await anyio.to_thread.run_sync(self.access.authenticate, secret)
        except FerryError as e:
            await error_response(e, headers=[(b"www-authenticate", b"Bearer")])(
                scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)


__all__ = ["OPEN_PATHS", "Authenticate", "Unauthenticated", "bearer"]
