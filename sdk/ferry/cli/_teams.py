"""``ferry teams``: teams and their members."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from ferry.cli._common import Output, OutputOpt, client, console, emit, table, user_errors

app = typer.Typer(name="teams", help="Teams and their members (roles: viewer, deployer, admin).",
                  no_args_is_help=True)


def _teams_table(teams: list[Any]) -> Table:
    rows = table("team", "members", "description")
    for t in teams:
        rows.add_row(t.name, ", ".join(f"{u} ({r.value})" for u, r in t.members.items()) or "-",
                     t.description)
    return rows


@app.command("list")
def teams_list(output: OutputOpt = Output.table) -> None:
    """Every team and its members."""
    with user_errors():
        teams = client().teams()
    emit(teams, output, _teams_table(teams))


@app.command("create")
def teams_create(name: str, description: str = "", output: OutputOpt = Output.table) -> None:
    """Create a team (platform admins)."""
    with user_errors():
        team = client().create_team(name, description)
    emit(team, output, _teams_table([team]))


@app.command("add-member")
def teams_add_member(
    team: str, user: str,
    role: Annotated[str, typer.Option(help="viewer (read), deployer (change the team's models "
                                           "and deployments), admin (also its members)")] = "viewer",
    output: OutputOpt = Output.table,
) -> None:
    """Add a user to a team, or change their role (team admins)."""
    with user_errors():
        result = client().set_member(team, user, role)
    emit(result, output, _teams_table([result]))


@app.command("remove-member")
def teams_remove_member(team: str, user: str) -> None:
    """Remove a user from a team (team admins)."""
    with user_errors():
        client().remove_member(team, user)
    console.print(f"removed {user} from {team}")
