"""``ferry features``: versioned features (Feast): plan, apply, list, freshness, materialize."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ferry.cli._common import Output, OutputOpt, client, emit, err_console, job_progress, table, user_errors

app = typer.Typer(
    name="features",
    help="Versioned features (Feast): plan and apply definitions, list views, materialize.",
    no_args_is_help=True)


def _plan_table(plan: Any) -> Table:
    rows = table("view", "change", "version after", "changed properties")
    for c in plan.changes:
        rows.add_row(c.view, c.change, f"v{c.version}", ", ".join(c.properties) or "-")
    rows.caption = "applied" if plan.applied else "plan only: nothing was written"
    return rows


@app.command("plan")
def features_plan(output: OutputOpt = Output.table) -> None:
    """Show what applying the feature repository would do: which views get a new version."""
    with user_errors(), err_console.status("parsing feature definitions..."):
        plan = client().plan_features()
    emit(plan, output, _plan_table(plan))


@app.command("apply")
def features_apply(output: OutputOpt = Output.table) -> None:
    """Apply the feature repository; a schema change creates a new version of its view."""
    with user_errors(), err_console.status("applying feature definitions..."):
        plan = client().apply_features()
    emit(plan, output, _plan_table(plan))


@app.command("list")
def features_list(output: OutputOpt = Output.table) -> None:
    """List feature views with their team and versions (the active one marked *)."""
    with user_errors():
        views = client().feature_views()
    rows = table("view", "team", "entities", "versions", "active features")
    for v in views:
        active = next((x for x in v.versions if x.version == v.active_version), None)
        rows.add_row(v.name, v.team or "-", ", ".join(v.entities),
                     " ".join(f"v{x.version}{'*' if x.version == v.active_version else ''}"
                              for x in v.versions),
                     ", ".join(f"{k}:{t}" for k, t in (active.features if active else {}).items()))
    emit(views, output, rows)


@app.command("freshness")
def features_freshness(output: OutputOpt = Output.table) -> None:
    """Per view and version: newest online value, TTL, and whether it can be served."""
    with user_errors():
        found = client().feature_freshness()
    rows = table("view", "version", "active", "newest online value", "TTL", "fresh")
    for f in found:
        rows.add_row(f.view, f"v{f.version}", "*" if f.active else "",
                     f.newest.isoformat(timespec="minutes") if f.newest else "never materialized",
                     f"{f.ttl_seconds / 86400:g} d" if f.ttl_seconds else "-",
                     "yes" if f.fresh else "NO")
    emit(found, output, rows)


@app.command("materialize")
def features_materialize(
    start: Annotated[str, typer.Option(help="ISO time, e.g. 2026-06-01T00:00:00Z")],
    end: Annotated[str, typer.Option(help="ISO time (default: now)")] = "",
    view: Annotated[list[str] | None, typer.Option(help="only these views (repeatable)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Load the active version of each view into the online store for [start, end].

    Runs as a job on the control plane, one view at a time, with a progress bar; afterwards
    `ferry features freshness` shows each version's newest online value.
    """
    from datetime import UTC, datetime

    stop = end or datetime.now(UTC).isoformat()
    with user_errors(), job_progress("materializing") as progress:
        done = client().materialize(start, stop, view or None, on_progress=progress)
    rows = table("materialized")
    for part in done:
        rows.add_row(part)
    emit(done, output, rows)


@app.command("schedule")
def features_schedule(
    view: str,
    cron: Annotated[str, typer.Argument(help="cron (UTC), e.g. '0 * * * *'")],
    lookback_hours: Annotated[float, typer.Option(help="the first run's window")] = 24.0,
    output: OutputOpt = Output.table,
) -> None:
    """Materialize a feature view on a cron schedule (a materialize job per due time)."""
    with user_errors():
        s = client().features.schedule(view, cron, lookback_hours=lookback_hours)
    rows = table("view", "cron", "next run")
    rows.add_row(s.view, s.cron, f"{s.next_run_at:%Y-%m-%d %H:%M}" if s.next_run_at else "-")
    emit(s, output, rows)


@app.command("schedules")
def features_schedules(output: OutputOpt = Output.table) -> None:
    """Feature views materialized on a schedule."""
    with user_errors():
        found = client().features.schedules()
    rows = table("view", "cron", "last run", "next run", "by")
    for s in found:
        rows.add_row(s.view, s.cron,
                     f"{s.last_run_at:%Y-%m-%d %H:%M}" if s.last_run_at else "-",
                     f"{s.next_run_at:%Y-%m-%d %H:%M}" if s.next_run_at else "-", s.created_by)
    emit(found, output, rows)


@app.command("unschedule")
def features_unschedule(view: str) -> None:
    """Stop materializing a view on its schedule."""
    with user_errors():
        client().features.unschedule(view)
    typer.echo(f"{view}: no longer scheduled")
