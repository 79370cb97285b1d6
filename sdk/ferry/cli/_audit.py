"""``ferry audit``: who changed what, when, from which release to which."""

from __future__ import annotations

from typing import Annotated

import typer

from ferry.cli._common import Output, OutputOpt, brief, client, emit, table, user_errors

app = typer.Typer()


@app.command()
def audit(
    actor: Annotated[str | None, typer.Option(help="only this user's actions")] = None,
    resource: Annotated[str | None, typer.Option(help="e.g. deployment/churn, model/churn")] = None,
    team: Annotated[str | None, typer.Option(help="only this team's resources")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. deploy, undeploy, model.register")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    output: OutputOpt = Output.table,
) -> None:
    """The audit log: who changed what, when, and from which release to which."""
    with user_errors():
        events = client().audit(actor=actor, resource=resource, team=team, action=action,
                                limit=limit)
    rows = table("when", "who", "action", "resource", "team", "outcome", "details")
    for e in events:
        details = e.details
        change = (f"{details.get('from_release') or '-'} -> {details.get('to_release') or '-'}"
                  if "to_release" in details else
                  brief(", ".join(f"{k}={v}" for k, v in details.items()), 60, output))
        rows.add_row(e.at.isoformat(timespec="seconds"), e.actor, e.action, e.resource,
                     e.team or "-", e.outcome, change)
    emit(events, output, rows)
