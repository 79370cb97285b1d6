"""``ferry jobs``: long operations (deploy, undeploy, materialize, reconcile) and their logs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ferry.cli._common import (
    Output,
    OutputOpt,
    brief,
    client,
    console,
    emit,
    err_console,
    follow_job,
    print_table,
    table,
    user_errors,
)
from ferry_contract import JobKind

app = typer.Typer(name="jobs", help="Long operations (deploy, undeploy, materialize, reconcile).",
                  invoke_without_command=True)


def jobs_table(jobs: list[Any], output: Output = Output.table) -> Table:
    rows = table("id", "kind", "target", "state", "%", "step", "actor", "created")
    for j in jobs:
        state = {"failed": "[red]failed[/red]", "succeeded": "[green]succeeded[/green]"}.get(
            j.state.value, j.state.value)
        rows.add_row(j.id, j.kind.value, j.target, state, str(j.percent), brief(j.step, 50, output), j.actor,
                     j.created_at.isoformat(timespec="seconds"))
    return rows


def phases_table(job: Any) -> Table:
    """Where a job's time went: each phase, its state and seconds, and the job's total."""
    rows = table("phase", "state", "seconds", "started")
    for p in job.phases:
        state = {"failed": "[red]failed[/red]", "running": "[yellow]running[/yellow]"}.get(
            p.state.value, p.state.value)
        rows.add_row(p.name, state, "" if p.seconds is None else f"{p.seconds:.1f}",
                     p.started.isoformat(timespec="milliseconds"))
    if job.started_at and job.finished_at:
        total = (job.finished_at - job.started_at).total_seconds()
        rows.add_row("[bold]job[/bold]", job.state.value, f"{total:.1f}",
                     job.started_at.isoformat(timespec="milliseconds"))
    return rows


@app.callback()
def jobs_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(
        help="one of: " + ", ".join(k.value for k in JobKind))] = None,
    target: Annotated[str | None, typer.Option(help="deployment name, or 'features'")] = None,
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    output: OutputOpt = Output.table,
) -> None:
    """List recent jobs, newest first (`ferry jobs show ID` for one, with its log)."""
    if ctx.invoked_subcommand is not None:
        return
    with user_errors():
        jobs = client().jobs(kind=kind, target=target, state=state, limit=limit)
    emit(jobs, output, jobs_table(jobs, output))


@app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="job id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait for it to end")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """One job: state, progress, result or error, and its log."""
    api = client()
    with user_errors():
        if follow:
            follow_job(api, job_id, f"job {job_id}")
        job = api.job(job_id)
        logs = api.job_logs(job_id)
    if not output.for_people:
        emit({**job.model_dump(mode="json"), "logs": [line.model_dump(mode="json")
                                                      for line in logs]}, output)
        return
    print_table(jobs_table([job], output), output)
    if job.phases:
        print_table(phases_table(job), output)
    for line in logs:
        console.print(f"  {line.at.isoformat(timespec='seconds')}  {escape(line.line)}",
                      soft_wrap=True)  # a pipe gets whole lines
    if job.error:
        err_console.print(f"[red]error[/red] ({escape(str(job.error.get('code')))}): "
                          f"{escape(str(job.error.get('message')))}")
        raise typer.Exit(2)
