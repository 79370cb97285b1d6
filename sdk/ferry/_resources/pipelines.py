"""``client.pipelines``: pipelines as code — register a ``@pipeline``, run it, follow its
runs. Calling it lists the pipelines: ``client.pipelines()``."""

from __future__ import annotations

import builtins
import inspect
import sys
from pathlib import Path
from typing import Any

from ferry._transport import Progress, Transport
from ferry_contract import (
    InvalidRequest,
    Overlap,
    Pipeline,
    PipelineCreate,
    PipelinePublic,
    PipelineRunCreate,
    PipelineRunPublic,
    PlatformUnavailable,
    RunState,
)


def locate(p: Pipeline[Any, Any]) -> tuple[str, str]:
    """``(module:attribute, directory)`` of a decorated pipeline: the directory is the one
    its top-level package (or module) sits in, to be put on the run's ``sys.path``."""
    module = p.fn.__module__
    if module == "__main__":
        raise InvalidRequest(f"pipeline {p.name!r} is defined in a script (__main__): put it "
                             "in a module of the team's pipeline repository and register "
                             "that (e.g. pipelines/churn.py -> 'pipelines.churn:retrain')")
    mod = sys.modules.get(module)
    attr = next((k for k, v in vars(mod).items() if v is p), p.fn.__name__) if mod else \
        p.fn.__name__
    source = Path(inspect.getfile(p.fn)).resolve()
    root = source.parent
    for _ in range(module.count(".") + (1 if source.name == "__init__.py" else 0)):
        root = root.parent
    return f"{module}:{attr}", str(root)


_PAGE = 500
"""Pipelines asked for per request when listing them all."""


class Pipelines:
    """Pipelines and their runs. Calling it is :meth:`list`."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __call__(self) -> list[PipelinePublic]:
        """:meth:`list`."""
        return self.list()

    def list(self) -> list[PipelinePublic]:
        """Every registered pipeline of your teams, with its next scheduled run and its
        last run (page after page, by name)."""
        found: list[PipelinePublic] = []
        while True:
            params: dict[str, Any] = {"limit": _PAGE}
            if found:
                params["after"] = found[-1].name
            page = [PipelinePublic.model_validate(p)
                    for p in self._transport.request("GET", "/v1/pipelines", params=params)]
            found += page
            if len(page) < _PAGE:
                return found

    def get(self, name: str) -> PipelinePublic:
        return PipelinePublic.model_validate(
            self._transport.request("GET", f"/v1/pipelines/{name}"))

    def register(self, pipeline: Pipeline[Any, Any] | str, *, name: str | None = None,
                 path: str | None = None, team: str | None = None,
                 schedule: str | None = None, on_alert: builtins.list[str] | None = None,
                 overlap: Overlap | str | None = None, description: str | None = None,
                 timeout_s: float = 3600.0) -> PipelinePublic:
        """Register (or update) a pipeline: a ``@pipeline`` function (its module and
        directory are found; its schedule, alerts and overlap are taken from the decorator
        unless given here) or ``"package.module:attribute"`` with ``path``, the directory
        of the team's pipeline repository as the platform's workers see it."""
        if isinstance(pipeline, Pipeline):
            module, found = locate(pipeline)
            path = path or found
            name = name or pipeline.name
            schedule = schedule if schedule is not None else pipeline.schedule
            on_alert = on_alert if on_alert is not None else pipeline.on_alert
            overlap = overlap or pipeline.overlap
            description = description if description is not None else pipeline.description
        else:
            module = pipeline
            if name is None:
                raise InvalidRequest(f"name the pipeline registered from {pipeline!r} "
                                     "(name=...)")
        body = PipelineCreate(module=module, path=path, team=team, schedule=schedule or None,
                              on_alert=on_alert or [], overlap=Overlap(overlap or "wait"),
                              description=description or "", timeout_s=timeout_s)
        return PipelinePublic.model_validate(self._transport.request(
            "PUT", f"/v1/pipelines/{name}", json=body.model_dump(mode="json")))

    def delete(self, name: str) -> None:
        """Unregister ``name``: its queued runs are skipped; ``Conflict`` while a run of it
        is running (never cut short): delete it again once that run ended."""
        self._transport.request("DELETE", f"/v1/pipelines/{name}")

    def run(self, name: str, *, params: dict[str, Any] | None = None, wait: bool = True,
            on_progress: Progress | None = None,
            timeout_s: float | None = None) -> PipelineRunPublic:
        """Start a run of ``name`` now (keyword ``params`` of its function). With ``wait``,
        follow it to its end: a run that failed raises ``PipelineFailed`` naming the step
        and its error. A run queued behind another is followed until it ran; a skipped one
        is returned as is."""
        run = PipelineRunPublic.model_validate(self._transport.request(
            "POST", f"/v1/pipelines/{name}/runs",
            json=PipelineRunCreate(params=params or {}).model_dump(mode="json")))
        if not wait or run.state is RunState.skipped:
            return run
        import time

        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while run.job_id is None and run.state is RunState.queued:
            if deadline is not None and time.monotonic() > deadline:
                raise PlatformUnavailable(f"run {run.id} of {name} is still queued after "
                                          f"{timeout_s:g}s; follow it with `ferry pipelines "
                                          f"show {name}`")
            time.sleep(1.0)
            run = self.get_run(run.id)
        if run.job_id is not None:
            left = None if deadline is None else max(1.0, deadline - time.monotonic())
            self._transport.wait(run.job_id, on_progress=on_progress, timeout_s=left)
        return self.get_run(run.id)

    def runs(self, name: str, *, state: RunState | str | None = None, limit: int = 50,
             before: str | None = None) -> builtins.list[PipelineRunPublic]:
        """Runs of ``name``, newest first, good or bad; the next page with ``before`` (the
        id of the last run seen)."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if state is not None:
            params["state"] = RunState(state).value
        return [PipelineRunPublic.model_validate(r) for r in self._transport.request(
            "GET", f"/v1/pipelines/{name}/runs", params=params)]

    def get_run(self, run_id: str) -> PipelineRunPublic:
        return PipelineRunPublic.model_validate(
            self._transport.request("GET", f"/v1/pipeline-runs/{run_id}"))
