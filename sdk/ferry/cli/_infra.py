"""``ferry infra``: the infrastructure program's CLI, run in a process of its own."""

from __future__ import annotations

import sys

import typer

from ferry.cli._common import err_console

app = typer.Typer()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def infra(ctx: typer.Context) -> None:
    """Infrastructure as code (platform engineers): teams as data, policy previews, settings
    from a stack's outputs. `ferry infra --help` for its commands."""
    import importlib.util
    import subprocess

    # A separate process: the SDK never imports Pulumi (the infra package is a leaf of its own).
    if importlib.util.find_spec("ferry_infra") is None:
        err_console.print("[red]error:[/red] ferry_infra is not installed here; run `ferry infra` from "
                          "a checkout of the Ferry repository (`make install`)")
        raise typer.Exit(2)
    raise typer.Exit(subprocess.call([sys.executable, "-m", "ferry_infra", *ctx.args]))
