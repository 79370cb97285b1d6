"""Prefect as the orchestrator, its flows run in the platform's sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ferry_platform.pipelines._interface import Isolation, RunRequest
from ferry_platform.pipelines._prefect import LocalPrefectServer

TARGET = "ferry_platform.pipelines._flow:run"
POLL_S = 2.0

StepProgress = Callable[[list[tuple[str, str]]], None]
"""``on_steps([(task run name, state), ...])``: the run's task runs so far, oldest first."""


def task_runs(api_url: str, flow_run_name: str) -> list[tuple[str, str]]:
    """The task runs (name, Prefect state) of the flow run named ``flow_run_name``."""
    with httpx.Client(base_url=api_url, timeout=5) as h:
        flows = h.post("/flow_runs/filter", json={
            "flow_runs": {"name": {"any_": [flow_run_name]}}, "limit": 1}).json()
        if not flows:
            return []
        tasks = h.post("/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [flows[0]["id"]]}}, "sort": "EXPECTED_START_TIME_ASC",
            "limit": 200}).json()
    return [(t["name"], (t.get("state") or {}).get("type", "PENDING")) for t in tasks]


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

    def run(self, request: RunRequest, on_steps: StepProgress | None = None) -> dict[str, Any]:
        """Run to the end; meanwhile ``on_steps`` hears the run's task runs from Prefect's
        API every few seconds (progress only: the outcome is the run's own answer)."""
        api_url = self.api_url
        stop = threading.Event()

        def watch() -> None:
            seen: list[tuple[str, str]] = []
            while not stop.wait(POLL_S):
                try:
                    now = task_runs(api_url, request.run_id)
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    continue
                if now != seen and on_steps is not None:
                    seen = now
                    try:
                        on_steps(now)
                    except Exception:  # noqa: BLE001 - the listener is gone (its job's lease
                        return  # moved to another control plane): progress stops, the run goes on

        watcher = threading.Thread(target=watch, name=f"pipeline-{request.run_id}",
                                   daemon=True)
        if on_steps is not None:
            watcher.start()
        try:
            return self._run(request, api_url)
        finally:
            stop.set()

    def _run(self, request: RunRequest, api_url: str) -> dict[str, Any]:
        payload = {"run_id": request.run_id, "module": request.module, "path": request.path,
                   "params": request.params, "ferry_url": request.ferry_url,
                   "ferry_token": request.ferry_token, "prefect_api_url": api_url,
                   "ray_address": self._ray_address() if callable(self._ray_address)
                   else self._ray_address}
        result: dict[str, Any] = self._isolation.run(TARGET, payload,
                                                     timeout_s=request.timeout_s,
                                                     memory_mb=self._memory_mb)
        return result

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
