"""``ferry monitor`` and ``ferry alerts``: a deployment's production traffic against the
training data of each release, and the alerts its thresholds raised."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ferry.cli._common import (
    Output,
    OutputOpt,
    brief,
    client,
    emit,
    err_console,
    job_progress,
    print_table,
    table,
    user_errors,
)

app = typer.Typer()


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def alerts_table(found: list[Any], output: Output = Output.table) -> Table:
    rows = table("id", "deployment", "kind", "subject", "state", "value", "threshold",
                 "opened", "message", title="alerts")
    for a in found:
        rows.add_row(str(a.id), a.deployment, a.kind, a.subject, a.state.value, _num(a.value),
                     _num(a.threshold), a.opened_at.isoformat(timespec="seconds"),
                     brief(a.message, 90, output))
    return rows


def report_tables(report: Any, output: Output = Output.table) -> list[Table]:
    """A report as tables: service per release, drift and fragility, slices, value, alerts."""
    out = []
    service = table("release", "arms", "requests", "errors", "p50 ms", "p95 ms", "p99 ms",
                    "labelled", title=f"{report.deployment}: last {report.window} "
                    f"({report.start:%Y-%m-%d %H:%M} to {report.end:%H:%M} UTC)")
    for r in report.releases:
        s = r.service
        service.add_row(r.release_id, "/".join(r.arms), str(s.requests),
                        f"{s.errors} ({_rate(s.error_rate)})", _num(s.p50_ms), _num(s.p95_ms),
                        _num(s.p99_ms), str(r.labelled))
    out.append(service)
    for r in report.releases:
        drift = table("column", "method", "score", "threshold", "drifted", "null rate",
                      "out of range", "unseen", title=f"{r.release_id}: drift and fragility")
        health = {f.column: f for f in r.fragility}
        for d in [*r.drift, *r.prediction_drift]:
            f = health.get(d.column)
            drift.add_row(d.column, d.method or "-",
                          _num(d.score) if d.status == "ok" else d.status.replace("_", " "),
                          _num(d.threshold), "YES" if d.drifted else "no",
                          _rate(f.null_rate) if f else "-",
                          _rate(f.out_of_range_rate) if f else "-",
                          _rate(f.unseen_category_rate) if f else "-")
        out.append(drift)
        if r.slices:
            slices = table("slice", "rows", "labelled", "positive rate", "TPR", "FPR",
                           "accuracy", title=f"{r.release_id}: slices")
            for g in r.slices:
                slices.add_row(f"{g.column}={g.group}", str(g.rows), str(g.labelled),
                               _num(g.positive_rate), _num(g.tpr), _num(g.fpr), _num(g.accuracy))
            out.append(slices)
    if report.business_value:
        value = table("arm", "release", "n", "mean", "95% interval", "lift vs stable",
                      title="business value per arm")
        for v in report.business_value:
            lift = "-" if v.lift is None else \
                f"{_num(v.lift)} [{_num(v.lift_ci_low)}, {_num(v.lift_ci_high)}]"
            value.add_row(v.arm, v.release_id, str(v.n), _num(v.mean),
                          f"[{_num(v.ci_low)}, {_num(v.ci_high)}]", lift)
        out.append(value)
    out.append(alerts_table(report.alerts, output))
    return out


@app.command()
def monitor(
    name: Annotated[str, typer.Argument(help="deployment name")],
    window: Annotated[str, typer.Option(help="how far back: 15m, 1h, 7d ...")] = "1h",
    latest: Annotated[bool, typer.Option(
        help="show the latest report (the scheduled one) instead of computing one now")] = False,
    plot: Annotated[Path | None, typer.Option(help="also draw it into this image (png)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Monitoring report of a deployment: per release, drift per feature and of the
    predictions, fragility (nulls, values out of range, unseen categories), latency and
    errors, slice metrics and business value once outcomes arrived, and open alerts.

    \b
    ferry monitor churn                  the last hour, computed now (a job, with progress)
    ferry monitor churn --window 7d -o json
    ferry monitor churn --latest         the latest scheduled report
    ferry monitor churn --plot drift.png
    """
    c = client()
    with user_errors():
        if latest:
            report = c.monitoring.latest(name)
        else:
            with job_progress(f"monitoring {name} (last {window})") as progress:
                report = c.monitoring(name, window, on_progress=progress)
    if plot is not None:
        report.plot(plot)
        err_console.print(f"drew {plot}")
    if not output.for_people:
        emit(report.public, output)
        return
    for rows in report_tables(report.public, output):
        print_table(rows, output)


@app.command()
def alerts(
    deployment: Annotated[str | None, typer.Option(help="only this deployment's")] = None,
    state: Annotated[str, typer.Option(help="open, resolved or all")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    output: OutputOpt = Output.table,
) -> None:
    """Monitoring alerts (open ones by default), newest first: drift, null rates, values
    out of range, unseen categories, slice gaps, error rate, p99 latency, skew.

    \b
    ferry alerts
    ferry alerts --deployment churn --state all -o json
    """
    with user_errors():
        found = client().alerts(deployment, state=state, limit=limit)
    emit(found, output, alerts_table(found, output))
