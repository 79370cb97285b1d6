"""``ferry``: the command line of the Ferry ML platform.

Every command talks to the control plane at FERRY_URL (default: the local platform that
``ferry up`` starts). ``-o json`` prints machine-readable output for scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from ferry._client import Client
from ferry._config import ClientSettings
from ferry._local import LocalPlatform
from ferry_contract import FerryError

app = typer.Typer(
    name="ferry",
    help=(
        "Ferry takes a trained model to a versioned production service.\n\n"
        "\b\n"
        "A typical session:\n"
        "  ferry up                          start the local platform (Ray, MLflow, API)\n"
        "  python train.py                   ferry.Client().register(model, name='churn', ...)\n"
        "  ferry deploy churn --version 1    build the release, serve REST + gRPC\n"
        "  ferry predict churn '{\"tenure\": 3}'\n"
        "  ferry status                      what serves, which release, where\n"
        "  ferry down                        stop everything\n\n"
        "Commands talk to FERRY_URL (default http://127.0.0.1:8700); add -o json for scripts."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)
app.add_typer(models_app, name="models")
features_app = typer.Typer(
    help="Versioned features (Feast): plan and apply definitions, list views, materialize.",
    no_args_is_help=True)
app.add_typer(features_app, name="features")

console = Console()
err_console = Console(stderr=True)


class Output(str, Enum):
    table = "table"
    json = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table (people) or json (scripts)")]


def _emit(data: Any, output: Output, table: Table | None = None) -> None:
    if output is Output.json or table is None:
        def plain(x: Any) -> Any:
            if isinstance(x, BaseModel):
                return x.model_dump(mode="json")
            if isinstance(x, list):
                return [plain(i) for i in x]
            return x
        sys.stdout.write(json.dumps(plain(data), indent=2, default=str) + "\n")
    else:
        console.print(table)


def _client() -> Client:
    return Client()


@contextmanager
def _user_errors() -> Iterator[None]:
    """Print a Ferry error as one line (no traceback); exit 2 for user errors, 1 otherwise."""
    try:
        yield
    except FerryError as e:
        err_console.print(f"[red]error[/red] ({e.code}): {e.message}")
        raise typer.Exit(code=2 if e.status < 500 else 1) from None


def _version(value: bool) -> None:
    if value:
        from ferry._version import __version__

        console.print(f"ferry {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print Ferry's version and exit.")] = False,
) -> None:
    """Ferry's command line."""


@app.command()
def up(
    home: Annotated[Path | None, typer.Option(help="State dir (default FERRY_HOME or ~/.ferry)")] = None,
) -> None:
    """Start the local platform in the background: control plane, local Ray, MLflow (SQLite)."""
    settings = ClientSettings()
    local = LocalPlatform(home or settings.home, settings.url)
    with _user_errors(), err_console.status("starting the local Ferry platform (~20 s)...") as status:
        pid = local.up(on_wait=lambda s: status.update(
            f"starting the local Ferry platform... {s:.0f}s"))
    console.print(f"Ferry is up at {settings.url} (pid {pid}); state in {local.home}, "
                  f"log in {local.log_file}. Stop it with `ferry down`.")


@app.command()
def down(
    home: Annotated[Path | None, typer.Option(help="State directory of the platform to stop")] = None,
) -> None:
    """Stop the local platform (serving and Ray). Models and releases stay on disk."""
    settings = ClientSettings()
    local = LocalPlatform(home or settings.home, settings.url)
    with err_console.status("stopping the local Ferry platform..."):
        stopped = local.down()
    console.print("Ferry is down." if stopped else "Ferry was not running.")


@app.command()
def info(output: OutputOpt = Output.table) -> None:
    """Show the platform: version, MLflow tracking URI, serving endpoints, defaults."""
    with _user_errors():
        data = _client().info()
    table = Table("setting", "value")
    for k, v in data.model_dump(mode="json").items():
        table.add_row(k, str(v))
    _emit(data, output, table)


@models_app.command("list")
def models_list(output: OutputOpt = Output.table) -> None:
    """List registered models."""
    with _user_errors():
        models = _client().models()
    table = Table("name", "latest version", "aliases", "description")
    for m in models:
        table.add_row(m.name, str(m.latest_version or "-"),
                      ", ".join(f"{k}=v{v}" for k, v in m.aliases.items()) or "-", m.description)
    _emit(models, output, table)


@models_app.command("show")
def models_show(name: str, output: OutputOpt = Output.table) -> None:
    """Show a model's versions with their lineage (digests, code version, framework)."""
    with _user_errors():
        versions = _client().versions(name)
    table = Table("version", "framework", "model digest", "training data", "code", "inputs")
    for v in versions:
        table.add_row(str(v.version), v.framework, v.model_digest[:19], v.training_data_digest,
                      v.code_version[:18], ", ".join(f"{c.name}:{c.type}" for c in v.signature))
    _emit(versions, output, table)


def _plan_table(plan: Any) -> Table:
    table = Table("view", "change", "version after", "changed properties")
    for c in plan.changes:
        table.add_row(c.view, c.change, f"v{c.version}", ", ".join(c.properties) or "-")
    table.caption = "applied" if plan.applied else "plan only: nothing was written"
    return table


@features_app.command("plan")
def features_plan(output: OutputOpt = Output.table) -> None:
    """Show what applying the feature repository would do: which views get a new version."""
    with _user_errors(), err_console.status("parsing feature definitions..."):
        plan = _client().plan_features()
    _emit(plan, output, _plan_table(plan))


@features_app.command("apply")
def features_apply(output: OutputOpt = Output.table) -> None:
    """Apply the feature repository; a schema change creates a new version of its view."""
    with _user_errors(), err_console.status("applying feature definitions..."):
        plan = _client().apply_features()
    _emit(plan, output, _plan_table(plan))


@features_app.command("list")
def features_list(output: OutputOpt = Output.table) -> None:
    """List feature views with their versions (the active one marked *)."""
    with _user_errors():
        views = _client().feature_views()
    table = Table("view", "entities", "versions", "active features")
    for v in views:
        active = next((x for x in v.versions if x.version == v.active_version), None)
        table.add_row(v.name, ", ".join(v.entities),
                      " ".join(f"v{x.version}{'*' if x.version == v.active_version else ''}"
                               for x in v.versions),
                      ", ".join(f"{k}:{t}" for k, t in (active.features if active else {}).items()))
    _emit(views, output, table)


@features_app.command("freshness")
def features_freshness(output: OutputOpt = Output.table) -> None:
    """Per view and version: newest online value, TTL, and whether it can be served."""
    with _user_errors():
        rows = _client().feature_freshness()
    table = Table("view", "version", "active", "newest online value", "TTL", "fresh")
    for f in rows:
        table.add_row(f.view, f"v{f.version}", "*" if f.active else "",
                      f.newest.isoformat(timespec="minutes") if f.newest else "never materialized",
                      f"{f.ttl_seconds / 86400:g} d" if f.ttl_seconds else "-",
                      "yes" if f.fresh else "NO")
    _emit(rows, output, table)


@features_app.command("materialize")
def features_materialize(
    start: Annotated[str, typer.Option(help="ISO time, e.g. 2026-06-01T00:00:00Z")],
    end: Annotated[str, typer.Option(help="ISO time (default: now)")] = "",
    view: Annotated[list[str] | None, typer.Option(help="only these views (repeatable)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Load the active version of each view into the online store for [start, end].

    Views are loaded one at a time with a progress bar; afterwards `ferry features
    freshness` shows each version's newest online value.
    """
    from datetime import UTC, datetime

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stop = end or datetime.now(UTC).isoformat()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with _user_errors(), Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task("materializing", total=None)

        def step(done: int, total: int, name: str) -> None:
            bar.update(task, total=total, completed=done,
                       description=f"materializing {name}" if name else "materialized")

        views = _client().materialize(start, stop, view or None, on_progress=step)
    table = Table("view", "active version")
    for v in views:
        table.add_row(v.name, f"v{v.active_version}")
    _emit(views, output, table)


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int, typer.Option("--version", "-v", help="exact model version")],
    name: Annotated[str | None, typer.Option(help="deployment name (default: the model name)")] = None,
    protocol: Annotated[str, typer.Option(help="auto (REST+gRPC), rest or grpc")] = "auto",
    replicas: Annotated[int | None, typer.Option(min=1, help="replicas (default: the platform's)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Deploy an exact model version: build its release, load it, roll it onto Ray Serve."""
    with _user_errors():
        with err_console.status(f"deploying {model} v{version} (build, preflight, roll out)..."):
            dep = _client().deploy(model, version=version, name=name, protocol=protocol,
                                   replicas=replicas)
    _emit(dep.info, output, _deployment_table([dep.info]))


def _deployment_table(deps: list[Any]) -> Table:
    table = Table("name", "release", "status", "replicas", "protocol", "REST", "gRPC")
    for d in deps:
        table.add_row(d.name, d.release.release_id, d.status, str(d.replicas), d.protocol.value,
                      d.endpoints.rest or "-",
                      f"{d.endpoints.grpc} (application={d.endpoints.grpc_application})"
                      if d.endpoints.grpc else "-")
    return table


@app.command()
def status(
    name: Annotated[str | None, typer.Argument(help="deployment name (default: all)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Show deployments: the release each serves, health, replicas and endpoints."""
    with _user_errors():
        client = _client()
        deps = [client.status(name)] if name else client.deployments()
    _emit(deps[0] if name else deps, output, _deployment_table(deps))


@app.command()
def undeploy(name: Annotated[str, typer.Argument(help="deployment name")]) -> None:
    """Stop serving a deployment and remove its Ray Serve application."""
    with _user_errors():
        _client().undeploy(name)
    console.print(f"undeployed {name}")


@app.command()
def predict(
    name: Annotated[str, typer.Argument(help="deployment name")],
    rows: Annotated[str, typer.Argument(help="JSON: a row object or a list of row objects")],
    protocol: Annotated[str, typer.Option(help="auto, rest or grpc")] = "auto",
    output: OutputOpt = Output.table,
) -> None:
    """Send rows to a deployment and print the predictions and the release that answered."""
    try:
        data = json.loads(rows)
    except ValueError as e:
        err_console.print(f"[red]error[/red]: rows are not valid JSON ({e})")
        raise typer.Exit(2) from e
    with _user_errors():
        result = _client().deployment(name).predict(data, protocol=protocol)  # type: ignore[arg-type]
    payload = {"predictions": result.predictions, "release_id": result.release_id,
               "protocol": result.protocol}
    table = Table("row", "prediction")
    for i, p in enumerate(result.predictions):
        table.add_row(str(i), str(p))
    table.caption = f"release {result.release_id} via {result.protocol}"
    _emit(payload, output, table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
