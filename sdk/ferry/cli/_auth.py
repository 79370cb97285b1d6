"""``ferry login``, ``logout``, ``whoami``: who the CLI and ``ferry.Client()`` act as."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ferry import _credentials as credentials
from ferry._config import ClientSettings
from ferry.cli._common import Output, OutputOpt, client, console, emit, err_console, table, user_errors

app = typer.Typer()


@app.command()
def login(
    token: Annotated[str | None, typer.Option(help="an API token (or pipe one on stdin)",
                                              envvar="FERRY_LOGIN_TOKEN")] = None,
    token_file: Annotated[Path | None, typer.Option(help="read the token from this file")] = None,
    url: Annotated[str | None, typer.Option(help="control-plane URL (default FERRY_URL)")] = None,
    portal: Annotated[bool, typer.Option(
        "--portal", help="print a one-time link that signs a browser in to the web portal as "
                         "your saved token (nothing is saved)")] = False,
) -> None:
    """Check an API token against the control plane and save it for that URL.

    The token is stored in $FERRY_HOME/credentials.json (mode 600) and used by the CLI and
    by ferry.Client(). The local platform's admin token is in $FERRY_HOME/admin-token
    (`ferry up` logs you in with it).

    Examples:

      ferry login --url https://ferry.internal --token fy_...

      ferry login --portal        # a one-time sign-in link for the portal (valid 5 minutes)
    """
    settings = ClientSettings()
    target = (url or settings.url).rstrip("/")
    if portal:
        with user_errors():
            link = client(target, token=token).access.portal_link()
        console.print(f"Open this link to sign in to the portal (once, before "
                      f"{link.expires_at:%H:%M:%S} UTC):")
        console.print(link.url, soft_wrap=True, highlight=False)
        return
    secret = token
    if token_file is not None:
        try:
            secret = token_file.read_text().strip()
        except OSError as e:
            err_console.print(f"[red]error[/red]: cannot read {escape(str(token_file))}: "
                              f"{escape(str(e.strerror))}")
            raise typer.Exit(2) from None
    if not secret and not sys.stdin.isatty():
        secret = sys.stdin.readline().strip()
    if not secret:
        err_console.print("[red]error[/red]: give a token: --token, --token-file or on stdin")
        raise typer.Exit(2)
    with user_errors():
        who = client(target, token=secret).whoami()
    path = credentials.save(settings.home, target, secret)
    console.print(f"logged in to {target} as {who.user}"
                  f"{' (platform admin)' if who.is_admin else ''}; token saved in {path}")


@app.command()
def logout(url: Annotated[str | None, typer.Option(help="control-plane URL")] = None) -> None:
    """Forget the saved token for the control plane."""
    settings = ClientSettings()
    target = (url or settings.url).rstrip("/")
    forgot = credentials.forget(settings.home, target)
    console.print(f"logged out of {target}" if forgot else f"no saved token for {target}")


@app.command()
def whoami(output: OutputOpt = Output.table) -> None:
    """Who the saved token belongs to, and its roles per team."""
    with user_errors():
        who = client().whoami()
    rows = table("user", "platform admin", "roles", "token")
    rows.add_row(who.user, "yes" if who.is_admin else "no",
                 ", ".join(f"{t}: {r.value}" for t, r in who.roles.items()) or "-", who.token_id)
    emit(who, output, rows)
