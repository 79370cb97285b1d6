"""``ferry pipelines``: pipelines as code — register, list, run, runs, show, delete."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ferry.cli._common import (
    Output,
    OutputOpt,
    brief,
    client,
    emit,
    job_progress,
    print_table,
    table,
    user_errors,
)
from ferry_contract import InvalidRequest

app = typer.Typer(
    name="pipelines",
    help="Pipelines as code: @ferry.pipeline functions run by Prefect (on Ray), on a "
         "schedule, on alerts, or by hand; every run shared in MLflow.",
    no_args_is_help=True)


def _when(at: Any) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else "-"


def _runs_table(runs: list[Any], title: str) -> Any:
    rows = table("run", "state", "trigger", "as", "started", "steps", "registered", "outcome",
                 title=title)
    for r in runs:
        outcome = (f"{r.failed_step or ''}: {r.error}" if r.error else
                   f"canary on {r.canary}" if r.canary else
                   json.dumps(r.result) if r.result is not None else r.reason)
        rows.add_row(r.id, r.state.value, r.trigger.value, r.actor,
                     _when(r.started_at or r.created_at),
                     str(len(r.steps)), ", ".join(r.registered) or "-", brief(outcome, 70))
    return rows


def _params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"--param {item!r}: give key=value (a JSON value or text)")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


@app.command("list")
def list_pipelines(output: OutputOpt = Output.table) -> None:
    """Registered pipelines, their schedules, alert triggers and last runs."""
    with user_errors():
        found = client().pipelines()
    rows = table("name", "team", "module", "schedule", "on alert", "overlap", "next run",
                 "last run")
    for p in found:
        last = f"{p.last_run.state.value} {_when(p.last_run.created_at)}" if p.last_run else "-"
        rows.add_row(p.name, p.team or "-", p.module, p.schedule or "-",
                     ", ".join(p.on_alert) or "-", p.overlap.value, _when(p.next_run_at), last)
    emit(found, output, rows)


@app.command("register")
def register(
    module: Annotated[str, typer.Argument(help="'package.module:attribute' of the @pipeline")],
    path: Annotated[str | None, typer.Option(
        help="the team's pipeline repository (put first on each run's sys.path); default: "
             "the current directory")] = None,
    name: Annotated[str | None, typer.Option(help="default: the pipeline's own name")] = None,
    team: Annotated[str | None, typer.Option(help="the owning team")] = None,
    schedule: Annotated[str | None, typer.Option(help="cron (UTC); default: the decorator's")] = None,
    on_alert: Annotated[list[str] | None, typer.Option(
        "--on-alert", help="model:drift, model:performance, model:<kind>, model:*")] = None,
    overlap: Annotated[str | None, typer.Option(help="wait or skip")] = None,
    timeout: Annotated[float, typer.Option(help="seconds a run may take")] = 3600.0,
    output: OutputOpt = Output.table,
) -> None:
    """Register (or update) a pipeline. The module is imported here, in your process, to
    read its decorator; the platform imports it only inside each isolated run."""
    import importlib
    import os
    import sys

    with user_errors():
        root = os.path.abspath(path or ".")
        sys.path.insert(0, root)
        mod, _, attr = module.partition(":")
        try:
            target = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise InvalidRequest(f"cannot import {module!r} from {root}: {e}") from e
        p = client().register_pipeline(target, name=name, path=root, team=team,
                                       schedule=schedule, on_alert=on_alert, overlap=overlap,
                                       timeout_s=timeout)
    rows = table("name", "team", "module", "path", "schedule", "on alert", "next run")
    rows.add_row(p.name, p.team or "-", p.module, p.path or "-", p.schedule or "-",
                 ", ".join(p.on_alert) or "-", _when(p.next_run_at))
    emit(p, output, rows)


@app.command("run")
def run(
    name: str,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="key=value keyword argument of the pipeline (repeatable)")] = None,
    wait: Annotated[bool, typer.Option(help="follow the run to its end")] = True,
    output: OutputOpt = Output.table,
) -> None:
    """Run a pipeline now (queued or skipped if one is under way, as its overlap says).
    A failed run exits 2 naming the step and its error."""
    with user_errors():
        params = _params(param or [])
        if wait:
            with job_progress(f"running {name}") as progress:
                r = client().run_pipeline(name, params=params, on_progress=progress)
        else:
            r = client().run_pipeline(name, params=params, wait=False)
    emit(r, output, _runs_table([r], f"{name} run {r.id}"))


@app.command("runs")
def runs(name: str, state: Annotated[str | None, typer.Option(
             help="queued, running, succeeded, failed or skipped")] = None,
         limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
         output: OutputOpt = Output.table) -> None:
    """Runs of a pipeline, newest first — good or bad."""
    with user_errors():
        found = client().pipeline_runs(name, state=state, limit=limit)
    emit(found, output, _runs_table(found, f"runs of {name}"))


@app.command("show")
def show(name_or_run: Annotated[str, typer.Argument(help="a pipeline's name or a run id")],
         output: OutputOpt = Output.table) -> None:
    """A pipeline (with its latest runs), or one run with its steps and links."""
    import re

    from ferry_contract import PIPELINE_NAME_PATTERN, NotFound

    with user_errors():
        c = client()
        p = None
        if re.fullmatch(PIPELINE_NAME_PATTERN, name_or_run):  # else a run id
            try:
                p = c.pipelines.get(name_or_run)
            except NotFound:
                p = None
        if p is None:
            r = c.pipelines.get_run(name_or_run)
            if output is not Output.table:
                emit(r, output)
                return
            print_table(_runs_table([r], f"{r.pipeline} run {r.id}"))
            steps = table("step", "state", "attempts", "seconds", "rows", "digest", "error")
            for s in r.steps:
                steps.add_row(s.name, s.state.value, str(s.attempts), f"{s.duration_s:.2f}",
                              str(s.rows) if s.rows is not None else "-", s.data_digest or "-",
                              brief(s.error or "", 60))
            print_table(steps)
            links = table("link", "value")
            for k, v in (("mlflow run", r.mlflow_run_id), ("code", r.code_version),
                         ("data", r.data_digest), ("evaluations", "; ".join(r.evaluations)),
                         ("job", r.job_id)):
                links.add_row(k, v or "-")
            print_table(links)
            return
        recent = c.pipeline_runs(p.name, limit=10)
    if output is not Output.table:
        emit({"pipeline": p.model_dump(mode="json"),
              "runs": [r.model_dump(mode="json") for r in recent]}, output)
        return
    about = table("field", "value", title=p.name)
    for k, v in (("team", p.team), ("module", p.module), ("path", p.path),
                 ("schedule", p.schedule), ("on alert", ", ".join(p.on_alert)),
                 ("overlap", p.overlap.value), ("next run", _when(p.next_run_at)),
                 ("created by", p.created_by),
                 (f"runs act as (last registered, revision {p.revision})", p.updated_by),
                 ("description", p.description)):
        about.add_row(k, str(v or "-"))
    print_table(about)
    print_table(_runs_table(recent, "latest runs"))


@app.command("delete")
def delete(name: str) -> None:
    """Unregister a pipeline (its runs stay recorded, in Ferry and in MLflow); its queued
    runs are skipped. Refused while a run of it is running: delete it once that ends."""
    with user_errors():
        client().pipelines.delete(name)
    typer.echo(f"pipeline {name} deleted")
