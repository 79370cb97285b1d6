"""Run the control plane: ``python -m ferry_server`` (``ferry up`` does this for you)."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from ferry_platform import Settings
from ferry_platform.core import unavailable
from ferry_server._app import create_app
from ferry_server._logging import redacting_handler


def load_settings() -> Settings:
    """The settings, or a one-paragraph refusal on stderr and exit code 2: never a
    traceback, never a value (a refused value may be the credential it carries)."""
    try:
        return Settings()
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err.get("loc", ()))
            message = str(err.get("msg", "")).removeprefix("Value error, ")
            problems.append(f"FERRY_{where.upper()}: {message}" if where else message)
        sys.stderr.write("Ferry's control plane cannot start: " + " ".join(problems) + "\n")
        raise SystemExit(2) from None


def main() -> None:
    logging.basicConfig(level=logging.INFO, handlers=[redacting_handler()], force=True)
    settings = load_settings()
    try:
        app = create_app(settings)
    except Exception as e:  # noqa: BLE001 - one clear (redacted) line, not a traceback
        down = unavailable(e)
        logging.getLogger("ferry.server").error(
            "Ferry's control plane cannot start: %s (%s: %s)",
            down.message if down else "an unexpected error", type(e).__name__, e)
        raise SystemExit(1) from None
    # log_config=None: uvicorn's loggers go through the same redacting handler
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
