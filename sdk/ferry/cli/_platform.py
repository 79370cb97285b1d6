"""``ferry up``, ``ferry down``, ``ferry info``: the local platform and what a platform is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferry import _credentials as credentials
from ferry._config import ClientSettings
from ferry._local import LocalPlatform
from ferry.cli._common import Output, OutputOpt, client, console, emit, err_console, table, user_errors

app = typer.Typer()


@app.command()
def up(
    home: Annotated[Path | None, typer.Option(help="State dir (default FERRY_HOME or ~/.ferry)")] = None,
) -> None:
    """Start the local platform in the background: control plane, local Ray, MLflow (SQLite).

    Ray runs as a process of its own: if it still runs (the control plane was killed or
    restarted), the control plane attaches to it and deployments keep serving throughout."""
    settings = ClientSettings()
    local = LocalPlatform(home or settings.home, settings.url)
    with user_errors(), err_console.status("starting the local Ferry platform (~20 s)...") as status:
        pid = local.up(on_wait=lambda s: status.update(
            f"starting the local Ferry platform... {s:.0f}s"))
    console.print(f"Ferry is up at {settings.url} (pid {pid}); state in {local.home}, "
                  f"log in {local.log_file}. Stop it with `ferry down`.")
    token_file = local.home / "admin-token"
    if token_file.exists() and not credentials.load(settings.home, settings.url):
        saved = credentials.save(settings.home, settings.url, token_file.read_text().strip())
        console.print(f"Logged in as the local admin (token from {token_file}, saved in "
                      f"{saved}). Other users: `ferry login --token ...`.")
    console.print(f"Portal: {settings.url.rstrip('/')}/portal (sign in with your token; "
                  "`ferry login --portal` prints a one-time sign-in link)")
    if token_file.exists():
        try:
            link = client(settings.url).access.portal_link()
            console.print(f"  one-time sign-in link as the local admin: {link.url}",
                          soft_wrap=True, highlight=False)
        except Exception:  # noqa: BLE001 - the address alone is enough
            pass


@app.command()
def down(
    home: Annotated[Path | None, typer.Option(help="State directory of the platform to stop")] = None,
) -> None:
    """Stop the local platform: the control plane, then the Ray it started (serving stops).
    Models and releases stay on disk; `ferry up` serves every deployment again."""
    settings = ClientSettings()
    local = LocalPlatform(home or settings.home, settings.url)
    with err_console.status("stopping the local Ferry platform..."):
        stopped = local.down()
    console.print("Ferry is down." if stopped else "Ferry was not running.")


@app.command()
def info(output: OutputOpt = Output.table) -> None:
    """Show the platform: version, serving endpoints, defaults."""
    with user_errors():
        data = client().info()
    rows = table("setting", "value")
    for k, v in data.model_dump(mode="json").items():
        rows.add_row(k, str(v))
    emit(data, output, rows)
