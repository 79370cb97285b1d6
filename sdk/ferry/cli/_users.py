"""``ferry users``: users (platform admins create them)."""

from __future__ import annotations

from typing import Annotated

import typer

from ferry.cli._common import Output, OutputOpt, client, emit, table, user_errors

app = typer.Typer(name="users", help="Users (platform admins create them).", no_args_is_help=True)


@app.command("list")
def users_list(output: OutputOpt = Output.table) -> None:
    with user_errors():
        users = client().users()
    rows = table("user", "platform admin", "disabled", "roles")
    for u in users:
        rows.add_row(u.name, "yes" if u.is_admin else "no", "yes" if u.disabled else "no",
                     ", ".join(f"{t}: {r.value}" for t, r in u.roles.items()) or "-")
    emit(users, output, rows)


@app.command("update")
def users_update(
    name: str,
    admin: Annotated[bool | None, typer.Option(
        "--admin/--no-admin", help="grant or take platform admin (never the last one)")] = None,
    disabled: Annotated[bool | None, typer.Option(
        "--disable/--enable", help="refuse every token of this user at once")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Platform admins: e.g. `ferry users update kim --disable` when someone leaves."""
    if admin is None and disabled is None:
        raise typer.BadParameter("say what to change: --admin/--no-admin or --disable/--enable")
    with user_errors():
        user = client().update_user(name, is_admin=admin, disabled=disabled)
    emit(user, output, None)


@app.command("create")
def users_create(name: str, admin: bool = False, output: OutputOpt = Output.table) -> None:
    """Create a user; then `ferry teams add-member` and `ferry tokens create --user`."""
    with user_errors():
        user = client().create_user(name, is_admin=admin)
    emit(user, output, None)
