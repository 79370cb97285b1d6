"""Prefect as the orchestrator, its flows run in the platform's sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferry_platform.pipelines._interface import Isolation, RunRequest
from ferry_platform.pipelines._prefect import LocalPrefectServer

TARGET = "ferry_platform.pipelines._flow:run"


class PrefectOrchestrator:
    """:class:`Orchestrator` on Prefect 3: each run is a flow run, each step call a task
    run (``RayTaskRunner`` on ``ray_address`` if given, threads otherwise), reported to
    ``api_url`` (a Prefect server) or to a local API server under ``home``. The flow runs
    in ``isolation``: the team's code never runs in the control plane's process and gets
    none of its credentials, only the run's scoped token."""

    def __init__(self, isolation: Isolation, *, home: Path, api_url: str | None = None,
                 ray_address: str | Callable[[], str | None] | None = None,
                 memory_mb: int = 4096) -> None:
        self._isolation = isolation
        self._server = None if api_url else LocalPrefectServer(home)
        self._api_url = api_url
        self._ray_address = ray_address
        self._memory_mb = memory_mb

    @property
    def api_url(self) -> str:
        return self._api_url or self._server.api_url  # type: ignore[union-attr]

    def run(self, request: RunRequest) -> dict[str, Any]:
        payload = {"run_id": request.run_id, "module": request.module, "path": request.path,
                   "params": request.params, "ferry_url": request.ferry_url,
                   "ferry_token": request.ferry_token, "prefect_api_url": self.api_url,
                   "ray_address": self._ray_address() if callable(self._ray_address)
                   else self._ray_address}
        result: dict[str, Any] = self._isolation.run(TARGET, payload,
                                                     timeout_s=request.timeout_s,
                                                     memory_mb=self._memory_mb)
        return result

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
