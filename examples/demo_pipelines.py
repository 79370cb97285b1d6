"""The retraining part of `make demo`: a nightly pipeline registered, one run triggered by hand.

Registers ``nightly_retrain.py``'s pipeline (``churn-nightly``: cron ``0 3 * * *`` UTC, and
on drift alerts of ``churn``), runs it once now with its progress, then shows the run's
steps, the MLflow run it recorded and its outcome. Tonight's data comes from the same source
as the champion's, so the candidate is no better than the champion and the run stops at the
gate: recorded, no canary, the champion unchanged. A pipeline could at most start a canary,
never promote.
"""

from __future__ import annotations

import time

from nightly_retrain import nightly_retrain
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import ferry
from ferry_contract import RunState


def _steps_table(run: ferry.PipelineRunPublic) -> Table:
    table = Table("step", "state", "attempts", "seconds", "rows", "data digest",
                  title=f"{run.pipeline} run {run.id} ({run.trigger.value}, {run.reason})")
    for s in run.steps:
        table.add_row(s.name, s.state.value, str(s.attempts), f"{s.duration_s:.1f}",
                      "-" if s.rows is None else f"{s.rows:,}", (s.data_digest or "-")[:23])
    return table


def run(client: ferry.Client, console: Console, model: str = "churn",
        rows: int = 2000) -> bool:
    """Register the pipeline, run it once by hand on ``model``; True if the run was recorded
    and stopped short of a canary with the champion unchanged."""
    t0 = time.monotonic()
    champion = client.model(model).aliases.get("champion")
    p = client.register_pipeline(nightly_retrain)
    try:
        return _run_once(client, console, p, model, rows, champion, t0)
    finally:  # a demo run later on the same FERRY_HOME: its drift alerts start nothing
        client.pipelines.delete(p.name)
        console.print(f"unregistered {p.name} (its runs stay recorded)")


def _run_once(client: ferry.Client, console: Console, p: ferry.PipelinePublic, model: str,
              rows: int, champion: int | None, t0: float) -> bool:
    console.print(f"registered pipeline [bold]{p.name}[/bold] ({p.module}): cron "
                  f"'{p.schedule}' UTC (next {p.next_run_at:%Y-%m-%d %H:%M}), on alerts "
                  f"{', '.join(p.on_alert)}; drift alerts already open do not start it, "
                  "an alert starts it when it opens")
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("starting a run by hand", total=100)
        try:
            done = client.run_pipeline(
                p.name, params={"rows": rows, "model": model, "deployment": model},
                timeout_s=600,
                on_progress=lambda step, pct: bar.update(task, completed=pct,
                                                         description=step[:70]))
        except ferry.PipelineFailed as e:  # recorded all the same: shown below
            console.print(f"[red]{e.message}[/red]")
            [done] = client.pipeline_runs(p.name, limit=1)
    console.print(_steps_table(done))
    result = done.result or {}
    console.print(f"MLflow run {done.mlflow_run_id} (experiment ferry-pipelines/{p.name}): "
                  f"state, params, metrics, the registered version and the evaluation")
    for ev in done.evaluations:
        console.print(f"  evaluation {ev}")
    gain = result.get("gain")
    outcome = result.get("outcome")
    now = client.model(model).aliases.get("champion")
    console.print(f"outcome: {done.state.value}; candidate {', '.join(done.registered) or '-'} "
                  f"gains {'-' if gain is None else f'{gain:+.4f}'} over champion "
                  f"v{champion} -> [bold]{outcome or done.error}[/bold] "
                  f"(failed checks: {result.get('failed_checks')}); canary: "
                  f"{done.canary or 'none'}; champion still v{now}")
    steps_s = sum(s.duration_s for s in done.steps)
    console.print(f"retraining part: {time.monotonic() - t0:.0f}s (the run's steps {steps_s:.0f}s; "
                  "the rest is a run's fixed cost: Prefect's local API server on first use, "
                  "a fresh process importing Prefect and the pipeline)")
    return (done.state is RunState.succeeded and len(done.registered) == 1
            and outcome in ("failed gate", "no gain") and done.canary is None
            and done.mlflow_run_id is not None and now == champion)
