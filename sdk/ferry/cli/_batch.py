"""``ferry batch``: score whole tables with a deployment's release (Ray Data)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ferry.cli._common import (
    Output,
    OutputOpt,
    client,
    emit,
    follow_job,
    job_progress,
    table,
    user_errors,
)

app = typer.Typer(
    name="batch",
    help="Batch scoring: a Parquet/CSV table (local or s3://) scored by a deployment's "
         "release on Ray Data, Parquet out with the release id on every row.",
    no_args_is_help=True)


def _job_table(job: Any) -> Table:
    rows = table("field", "value")
    request, result = job.request or {}, job.result or {}
    for key, value in [("job", job.id), ("state", job.state.value),
                       ("step", f"{job.step} ({job.percent}%)"),
                       ("deployment", job.target), ("release", request.get("release_id")),
                       ("source", request.get("source")), ("dest", request.get("dest")),
                       ("as of", request.get("as_of") or "-"),
                       ("rows", f"{result['rows']:,}" if "rows" in result else "-"),
                       ("rows/s", f"{result['rows_per_s']:,.0f}" if result.get("rows_per_s")
                        else "-"),
                       ("source digest", result.get("source_digest", "-"))]:
        rows.add_row(key, str(value))
    if job.error:
        rows.add_row("error", str(job.error.get("message", "")))
    return rows


@app.command("score")
def batch_score(
    deployment: Annotated[str, typer.Argument(help="the deployment whose release scores")],
    source: Annotated[str, typer.Option(help="Parquet/CSV file, directory or glob under "
                                             "your team's data roots (`ferry batch roots`); "
                                             "relative: under the first root")],
    dest: Annotated[str, typer.Option(help="an empty directory under your team's data "
                                           "roots for the Parquet output")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="time features are joined at, e.g. 2026-12-01")] = None,
    keep: Annotated[list[str] | None, typer.Option(
        help="input column carried to the output as is, e.g. an id (repeatable)")] = None,
    release: Annotated[str | None, typer.Option(
        help="one of the deployment's running releases instead of the serving one")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="start it and return")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """Score SOURCE with DEPLOYMENT's serving release into DEST, with a progress bar.

    The input's columns are checked first: a column the model lacks or needs is refused,
    named, before anything is scored. Example:

        ferry batch score churn --source s3://data/customers/*.parquet \\
            --dest s3://data/scores/2026-12-01/ --as-of 2026-12-01
    """
    api = client()
    with user_errors():
        if detach:
            job = api.batch_score(deployment, source=source, dest=dest, as_of=as_of,
                                  keep=keep, release_id=release, wait=False)
        else:
            with job_progress(f"scoring with {deployment}") as progress:
                job = api.batch_score(deployment, source=source, dest=dest, as_of=as_of,
                                      keep=keep, release_id=release, on_progress=progress)
    emit(job, output, _job_table(job))


@app.command("show")
def batch_show(
    job_id: Annotated[str, typer.Argument(help="batch job id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait for it to end")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """One batch job: progress, rows scored, release and lineage."""
    api = client()
    with user_errors():
        if follow:
            follow_job(api, job_id, f"batch job {job_id}")
        job = api.batch.get(job_id)
    emit(job, output, _job_table(job))


@app.command("roots")
def batch_roots(output: OutputOpt = Output.table) -> None:
    """Where your teams' batch jobs may read and write.

    --source and --dest must lie under one of a team's roots; a relative path is taken under
    its first root. Example: `ferry batch score churn --source customers/ --dest scores/1/`."""
    with user_errors():
        roots = client().batch.roots()
    rows = table("team", "data roots")
    for team, where in roots.items():
        rows.add_row(team, "\n".join(where))
    emit(roots, output, rows)


@app.command("list")
def batch_list(limit: Annotated[int, typer.Option(help="at most this many")] = 20,
               output: OutputOpt = Output.table) -> None:
    """Batch jobs, newest first."""
    with user_errors():
        jobs = client().batch.list(limit)
    rows = table("job", "state", "deployment", "release", "rows", "created")
    for j in jobs:
        rows.add_row(j.id, j.state.value, j.target, str((j.request or {}).get("release_id")),
                     f"{(j.result or {}).get('rows', '-')}",
                     j.created_at.isoformat(timespec="seconds"))
    emit(jobs, output, rows)
