"""Ferry's control plane: the HTTP API every user surface (SDK, CLI, portal) goes through."""

from ferry_server._app import create_app

__all__ = ["create_app"]
