from __future__ import annotations

from typing import Any

from ferry_platform.sandbox._interface import unwrap
from ferry_platform.sandbox._launch import run_isolated


class ProcessSandbox:
    """:class:`Sandbox` as a child process of the caller, on the caller's machine.

    The child gets an environment built from an allowlist (none of the platform's
    settings or credentials), its own session, a memory cap and a time limit, and answers
    in JSON. It shares the machine, its files and its user with the control plane, so
    this is for a local platform; on a cluster, use :class:`RaySandbox`.
    """

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any:
        return unwrap(run_isolated(target, payload, timeout_s=timeout_s,
                                   memory_mb=memory_mb))
