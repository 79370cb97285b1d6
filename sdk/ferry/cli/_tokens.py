"""``ferry tokens``: API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from ferry.cli._common import Output, OutputOpt, client, console, emit, err_console, table, user_errors

app = typer.Typer(name="tokens", help="API tokens (stored hashed; a secret is shown once).",
                  no_args_is_help=True)


@app.command("create")
def tokens_create(
    user: Annotated[str | None, typer.Option(help="for this user (platform admins)")] = None,
    description: str = "",
    ttl_days: Annotated[float, typer.Option(
        help="lifetime in days, at most the platform's maximum (0: no expiry, platform "
             "admins only)")] = 90,
    scope: Annotated[str, typer.Option(
        help="all (your rights) or predict (predictions only, e.g. for a service)")] = "all",
    output: OutputOpt = Output.table,
) -> None:
    """Create an API token and print its secret (only now).

    A service that only calls a model: `ferry tokens create --scope predict --description
    churn-scorer`; it can predict on the deployments of your teams and do nothing else."""
    if scope not in ("all", "predict"):
        raise typer.BadParameter(f"--scope {scope!r}: use 'all' or 'predict'")
    with user_errors():
        issued = client().create_token(user=user, description=description,
                                       ttl_days=ttl_days or None, scope=scope)
    if not output.for_people:
        emit(issued, output)
        return
    console.print(f"token {issued.id} for {issued.user}"
                  f"{', expires ' + issued.expires_at.isoformat() if issued.expires_at else ''}:")
    console.print(issued.token, soft_wrap=True, highlight=False)
    err_console.print("Store it now: it is not shown again. Use it with `ferry login --token ...`.")


@app.command("list")
def tokens_list(output: OutputOpt = Output.table) -> None:
    """Your tokens (platform admins: all), without their secrets."""
    with user_errors():
        tokens = client().tokens()
    rows = table("id", "user", "scope", "description", "created", "expires", "revoked")
    for t in tokens:
        rows.add_row(t.id, t.user, t.scope.value, t.description,
                     t.created_at.isoformat(timespec="minutes"),
                     t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never",
                     t.revoked_at.isoformat(timespec="minutes") if t.revoked_at else "-")
    emit(tokens, output, rows)


@app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token at once (yours, or any as a platform admin)."""
    with user_errors():
        client().revoke_token(token_id)
    console.print(f"revoked {token_id}")
