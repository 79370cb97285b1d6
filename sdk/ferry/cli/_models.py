"""``ferry models``: registered models and their versions."""

from __future__ import annotations

import typer

from ferry.cli._common import Output, OutputOpt, client, emit, table, user_errors

app = typer.Typer(name="models", help="Registered models and their versions.", no_args_is_help=True)


@app.command("list")
def models_list(output: OutputOpt = Output.table) -> None:
    """List registered models."""
    with user_errors():
        models = client().models()
    rows = table("name", "latest version", "aliases", "description")
    for m in models:
        rows.add_row(m.name, str(m.latest_version or "-"),
                     ", ".join(f"{k}=v{v}" for k, v in m.aliases.items()) or "-", m.description)
    emit(models, output, rows)


@app.command("show")
def models_show(name: str, output: OutputOpt = Output.table) -> None:
    """Show a model's versions with their lineage (digests, code version, framework)."""
    with user_errors():
        versions = client().versions(name)
    rows = table("version", "framework", "model digest", "training data", "code", "inputs")
    for v in versions:
        rows.add_row(str(v.version), v.framework, v.model_digest, v.training_data_digest,
                     v.code_version, ", ".join(f"{c.name}:{c.type}" for c in v.signature))
    emit(versions, output, rows)
