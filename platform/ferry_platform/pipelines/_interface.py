"""What the pipelines capability needs and offers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Isolation(Protocol):
    """Runs a target in an isolated process (the platform's sandbox)."""

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any: ...


@dataclass(frozen=True)
class RunRequest:
    """One run of a registered pipeline, as the isolated process gets it."""

    run_id: str
    module: str
    path: str | None
    params: dict[str, Any] = field(default_factory=dict)
    ferry_url: str | None = None
    ferry_token: str | None = None
    timeout_s: float = 3600.0


class Orchestrator(Protocol):
    """Runs a pipeline to its end; the outcome as plain JSON (``state``, ``steps``,
    ``error``, ``failed_step``, ``result``, ``code_version``, ``data_digest``)."""

    def run(self, request: RunRequest,
            on_steps: Callable[[list[tuple[str, str]]], None] | None = None,
            ) -> dict[str, Any]: ...

    def stop(self) -> None: ...
