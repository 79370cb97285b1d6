"""The data plane's token check, done in each router replica before a request is read.

The control plane pushes, in the router's ``user_config``, the SHA-256 digests of the
tokens that may predict on the deployment (with their expiry) or lets anyone through
(``anonymous``). A request carries ``Authorization: Bearer <token>`` (REST header, or the
``authorization`` gRPC metadata); the check is a hash and a dict lookup, with recently
seen tokens' digests remembered. A router with no access configured lets nobody through.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

_SEEN_MAX = 4096


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenCheck:
    def __init__(self) -> None:
        self.anonymous = False
        self._tokens: dict[str, float | None] = {}
        self._digests: dict[str, str] = {}

    def configure(self, access: dict[str, Any] | None) -> None:
        access = access or {}
        self.anonymous = bool(access.get("anonymous", False))
        self._tokens = {str(k): (float(v) if v is not None else None)
                        for k, v in (access.get("tokens") or {}).items()}

    def refusal(self, authorization: str | None, name: str) -> str | None:
        """None if the request may go on, else why not (the message of a 401)."""
        if self.anonymous:
            return None
        token = bearer_token(authorization)
        if token is None:
            return (f"deployment {name!r} needs an API token: send 'Authorization: Bearer "
                    "<token>' (gRPC: 'authorization' metadata). The SDK sends the one you "
                    "logged in with; a service can use a predict-only token "
                    "(`ferry tokens create --scope predict`).")
        found = self._digests.get(token)
        if found is None:
            found = hashlib.sha256(token.encode()).hexdigest()
            if len(self._digests) >= _SEEN_MAX:
                self._digests.clear()
            self._digests[token] = found
        if found not in self._tokens:
            return (f"the token may not predict on {name!r}: it is unknown, revoked, or its "
                    "user is not a member of the deployment's team")
        expires = self._tokens[found]
        if expires is not None and expires <= time.time():
            return "the token expired; create a new one with `ferry tokens create`"
        return None
