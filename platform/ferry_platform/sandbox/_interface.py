"""What the platform needs of a sandbox, and how a sandboxed run can fail.

A sandbox runs one function of untrusted code — a registered model's loading and
predicting — in a process of its own, with none of the platform's secrets in its
environment, under a memory cap and a time limit, and hands back plain JSON. Nothing the
untrusted code produces is ever unpickled by the caller.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol


class SandboxError(Exception):
    """The isolated run gave no answer. ``kind`` says why; the message is plain text (the
    last line of the cause, never a traceback) and holds no secret: the isolated process
    has none."""

    kind: ClassVar[str] = "failed"


class TargetFailed(SandboxError):
    """The target raised; the message is ``TypeName: text``."""

    kind = "raised"


class SandboxTimeout(SandboxError):
    """The run did not finish in time; its process (and what it started) was killed."""

    kind = "timeout"


class SandboxOutOfMemory(SandboxError):
    """The run hit its memory cap."""

    kind = "memory"


class SandboxCrashed(SandboxError):
    """The process died without an answer (a signal, an exit, a lost Ray worker)."""

    kind = "crashed"


ERRORS: dict[str, type[SandboxError]] = {
    cls.kind: cls for cls in (TargetFailed, SandboxTimeout, SandboxOutOfMemory, SandboxCrashed)}


class Sandbox(Protocol):
    """Runs untrusted code in isolation."""

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any:
        """Call ``target`` (``"package.module:function"``) with ``payload`` in a fresh,
        isolated process and return what it returned (JSON types only: dicts, lists,
        strings, numbers, booleans, None). ``payload`` may hold any picklable values (it
        goes from the trusted side to the untrusted one). Raises a :class:`SandboxError`."""
        ...


def unwrap(envelope: Any) -> Any:
    """The value of a run's envelope (``{"ok": value}``), or its error raised."""
    if isinstance(envelope, dict) and "ok" in envelope:
        return envelope["ok"]
    error = envelope.get("error") if isinstance(envelope, dict) else None
    if not isinstance(error, dict):
        raise SandboxCrashed("the isolated process gave an answer Ferry cannot read")
    cls = ERRORS.get(str(error.get("kind")), SandboxCrashed)
    raise cls(str(error.get("message") or cls.kind)[:1000])
