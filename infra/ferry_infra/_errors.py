"""Errors of the infrastructure program.

InfraError                      root: a message that names the bad value and the fix
├── StackConfigError            a stack config key is missing, mistyped or out of range
├── TeamFileError               a file under teams/ breaks the team schema
└── StackOutputsError           stack outputs lack what Ferry's settings need
"""

from __future__ import annotations

from pydantic import ValidationError


class InfraError(Exception):
    """Root of the infrastructure errors; ``str(e)`` is written for the person who fixes it."""


class StackConfigError(InfraError):
    pass


class TeamFileError(InfraError):
    pass


class StackOutputsError(InfraError):
    pass


def describe(error: ValidationError, *, prefix: str = "") -> list[str]:
    """One line per rule the value broke: where, the value, and what is expected."""
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        value = e.get("input")
        shown = "" if e["type"] == "missing" or isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{prefix}{where}: {e['msg']}{shown}")
    return lines
