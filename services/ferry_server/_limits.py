"""Refuse request bodies over the configured size with a 413 before any route reads them."""

from __future__ import annotations

from typing import Any

from ferry_contract import PayloadTooLarge

Scope = dict[str, Any]


class BodyLimit:
    """ASGI middleware: bodies larger than ``max_bytes`` get a 413 error body."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send, int(length))
                return
            await self.app(scope, receive, send)
            return
        # No length (chunked): read up to the limit, then replay what was read.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, size)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any, size: int) -> None:
        err = PayloadTooLarge(
            f"the request body ({size:,} bytes) exceeds the control plane's limit of "
            f"{self.max_bytes:,} bytes (FERRY_MAX_BODY_MB); send less per request, e.g. "
            "split a training set's entity rows.",
            details={"limit_bytes": self.max_bytes, "size": size})
        payload = err.to_json()
        await send({"type": "http.response.start", "status": err.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
