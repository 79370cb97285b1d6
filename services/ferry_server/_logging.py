"""The control plane's log, with every credential removed before a line is written."""

from __future__ import annotations

import logging
from typing import IO

from ferry_platform.core import REDACTOR

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and its traceback) through the redactor. On a
    handler, it sees every record the handler writes, whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as its template
            message = str(record.msg)
        record.msg, record.args = REDACTOR(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = REDACTOR(record.exc_text)
        if record.stack_info:
            record.stack_info = REDACTOR(record.stack_info)
        return True


def redacting_handler(stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) whose lines carry no credentials."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    return handler
