"""Run the control plane: ``python -m ferry_server`` (``ferry up`` does this for you)."""

from __future__ import annotations

import logging

import uvicorn

from ferry_platform import Settings
from ferry_server._app import create_app


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
