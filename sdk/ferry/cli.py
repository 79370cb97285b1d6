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
from rich.markup import escape
from rich.table import Table

from ferry import _credentials as credentials
from ferry._client import Client
from ferry._config import ClientSettings
from ferry._local import LocalPlatform
from ferry_contract import FerryError, InvalidRequest, JobKind, redact

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
        "  ferry jobs                        deploys and other long operations, with logs\n"
        "  ferry audit                       who changed what, from which release to which\n"
        "  ferry monitor churn               drift, fragility, latency, slices, alerts\n"
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


def _table(*headers: str, **options: Any) -> Table:
    """A table that never shortens a cell: at a terminal a long id or endpoint wraps inside
    its column; in a pipe or a file (see :func:`_print`) every row stays on one line."""
    table = Table(*headers, **options)
    for column in table.columns:
        column.overflow = "fold"
    return table


def _brief(text: str, length: int) -> str:
    """``text`` cut to ``length`` at a terminal (digests, long logs); whole in a pipe."""
    return text[:length] if console.is_terminal else text


def _print(table: Table) -> None:
    """At a terminal, at its width; elsewhere (a pipe, a file, CI's log) as wide as the rows
    need, so `ferry status | grep churn` sees whole ids and endpoints."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=100_000).print(table)


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
        _print(table)


def _client() -> Client:
    return Client()


@contextmanager
def _user_errors() -> Iterator[None]:
    """Print a Ferry error as one line (no traceback, no credential, e.g. of a FERRY_URL
    with a password); exit 2 for user errors, 1 otherwise."""
    try:
        yield
    except FerryError as e:
        # the message is text, not markup: a "[...]" in it (a path in a log line) is printed
        err_console.print(f"[red]error[/red] ({escape(e.code)}): {escape(redact(e.message))}")
        raise typer.Exit(code=2 if e.status < 500 else 1) from None


@contextmanager
def _job_progress(title: str) -> Iterator[Any]:
    """A progress bar (on stderr) fed by a job's ``on_progress(step, percent)``."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(title, total=100)

        def update(step: str, percent: int) -> None:
            bar.update(task, completed=percent, description=step[:70])

        yield update


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
    """Start the local platform in the background: control plane, local Ray, MLflow (SQLite).

    Ray runs as a process of its own: if it still runs (the control plane was killed or
    restarted), the control plane attaches to it and deployments keep serving throughout."""
    settings = ClientSettings()
    local = LocalPlatform(home or settings.home, settings.url)
    with _user_errors(), err_console.status("starting the local Ferry platform (~20 s)...") as status:
        pid = local.up(on_wait=lambda s: status.update(
            f"starting the local Ferry platform... {s:.0f}s"))
    console.print(f"Ferry is up at {settings.url} (pid {pid}); state in {local.home}, "
                  f"log in {local.log_file}. Stop it with `ferry down`.")
    token_file = local.home / "admin-token"
    if token_file.exists() and not credentials.load(settings.home, settings.url):
        saved = credentials.save(settings.home, settings.url, token_file.read_text().strip())
        console.print(f"Logged in as the local admin (token from {token_file}, saved in "
                      f"{saved}). Other users: `ferry login --token ...`.")


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
    with _user_errors():
        data = _client().info()
    table = _table("setting", "value")
    for k, v in data.model_dump(mode="json").items():
        table.add_row(k, str(v))
    _emit(data, output, table)


@models_app.command("list")
def models_list(output: OutputOpt = Output.table) -> None:
    """List registered models."""
    with _user_errors():
        models = _client().models()
    table = _table("name", "latest version", "aliases", "description")
    for m in models:
        table.add_row(m.name, str(m.latest_version or "-"),
                      ", ".join(f"{k}=v{v}" for k, v in m.aliases.items()) or "-", m.description)
    _emit(models, output, table)


@models_app.command("show")
def models_show(name: str, output: OutputOpt = Output.table) -> None:
    """Show a model's versions with their lineage (digests, code version, framework)."""
    with _user_errors():
        versions = _client().versions(name)
    table = _table("version", "framework", "model digest", "training data", "code", "inputs")
    for v in versions:
        table.add_row(str(v.version), v.framework, _brief(v.model_digest, 19), v.training_data_digest,
                      _brief(v.code_version, 18), ", ".join(f"{c.name}:{c.type}" for c in v.signature))
    _emit(versions, output, table)


def _plan_table(plan: Any) -> Table:
    table = _table("view", "change", "version after", "changed properties")
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
    table = _table("view", "entities", "versions", "active features")
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
    table = _table("view", "version", "active", "newest online value", "TTL", "fresh")
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

    Runs as a job on the control plane, one view at a time, with a progress bar; afterwards
    `ferry features freshness` shows each version's newest online value.
    """
    from datetime import UTC, datetime

    stop = end or datetime.now(UTC).isoformat()
    with _user_errors(), _job_progress("materializing") as progress:
        done = _client().materialize(start, stop, view or None, on_progress=progress)
    table = _table("materialized")
    for part in done:
        table.add_row(part)
    _emit(done, output, table)


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int, typer.Option("--version", "-v", help="exact model version")],
    name: Annotated[str | None, typer.Option(help="deployment name (default: the model name)")] = None,
    protocol: Annotated[str, typer.Option(help="auto (REST+gRPC), rest or grpc")] = "auto",
    replicas: Annotated[int | None, typer.Option(min=1, help="replicas (default: the platform's)")] = None,
    detach: Annotated[bool, typer.Option(help="start the deploy job and print its id; "
                                              "follow it with `ferry jobs show ID`")] = False,
    breaking: Annotated[bool, typer.Option(
        help="replace a release whose clients send other columns (breaks them; audited)")
    ] = False,
    output: OutputOpt = Output.table,
) -> None:
    """Deploy an exact model version: build its release, load it, roll it onto Ray Serve.

    The deploy runs as a job on the control plane; this command shows its progress and
    waits for it (Ctrl-C stops waiting, not the job). A second deploy of the same name
    while one runs is refused (409), and so is a version whose clients would have to send
    other columns than today's, unless --breaking.
    """
    client = _client()
    with _user_errors():
        if detach:
            job = client.start_deploy(model, version=version, name=name, protocol=protocol,
                                      replicas=replicas, allow_contract_change=breaking)
            _emit(job, output, _jobs_table([job]))
            return
        with _job_progress(f"deploying {model} v{version}") as progress:
            dep = client.deploy(model, version=version, name=name, protocol=protocol,
                                replicas=replicas, allow_contract_change=breaking,
                                on_progress=progress)
    _emit(dep.info, output, _deployment_table([dep.info]))


class RolloutAction(str, Enum):
    start = "start"
    promote = "promote"
    rollback = "rollback"
    abort = "abort"
    status = "status"
    shadow = "shadow"


@app.command()
def rollout(
    name: Annotated[str, typer.Argument(help="deployment name")],
    action: Annotated[RolloutAction, typer.Argument(
        help="start (default), promote, rollback, abort, status, or shadow (its report)")]
    = RolloutAction.start,
    version: Annotated[int | None, typer.Option("--version", "-v",
                                                help="start: the model version to roll out")] = None,
    canary: Annotated[int | None, typer.Option(min=0, max=100,
                                               help="start: percent of requests, at random")] = None,
    ab: Annotated[int | None, typer.Option(min=0, max=100, help="start: percent of "
                                           "entities, sticky by --sticky-key")] = None,
    sticky_key: Annotated[str | None, typer.Option(help="A/B: the entity key column")] = None,
    shadow: Annotated[bool, typer.Option("--shadow", help="start: mirror traffic to the "
                                         "candidate; its answers are compared, never returned")] = False,
    weight: Annotated[int | None, typer.Option(help="change the candidate's percent of "
                                               "requests (no restarts)")] = None,
    reason: Annotated[str | None, typer.Option(help="promote, admins: make it champion "
                                               "although its gate failed (audited)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Roll a new version out safely: canary, A/B or shadow, then promote or roll back.

    \b
    ferry rollout churn --version 4 --canary 10      # 10% of requests to v4
    ferry rollout churn --weight 50                  # now 50% (no restarts)
    ferry rollout churn promote                      # v4 takes all traffic
    ferry rollout churn rollback                     # back to the previous release at once
    ferry rollout churn --version 4 --ab 50 --sticky-key customer_id
    ferry rollout churn --version 4 --shadow; ferry rollout churn shadow
    """
    client = _client()
    with _user_errors():
        if action is RolloutAction.status:
            info = client.status(name)
            _emit(info, output, _deployment_table([info]))
            return
        if action is RolloutAction.shadow:
            report = client.shadow_report(name)
            table = _table("shadow release", "requests", "agreed", "disagreed", "errors",
                          "agreement")
            table.add_row(report.shadow_release_id or "-", str(report.requests),
                          str(report.agreed), str(report.disagreed), str(report.shadow_errors),
                          "-" if report.agreement is None else f"{report.agreement:.1%}")
            _emit(report, output, table)
            return
        with _job_progress(f"{action.value} {name}") as progress:
            if action is RolloutAction.promote:
                dep = client.promote(name, reason=reason, on_progress=progress)
            elif action is RolloutAction.rollback:
                dep = client.rollback(name, on_progress=progress)
            elif action is RolloutAction.abort:
                dep = client.abort(name, on_progress=progress)
            elif weight is not None and version is None:
                dep = client.set_weight(name, weight, on_progress=progress)
            elif version is None:
                raise InvalidRequest(
                    "say what to roll out: --version N (with --canary P, --ab P --sticky-key "
                    "COL or --shadow), or --weight P to re-weight the rollout under way")
            else:
                dep = client.rollout(name, version=version, canary=canary, ab=ab,
                                     sticky_key=sticky_key, shadow=shadow, on_progress=progress)
    _emit(dep.info, output, _deployment_table([dep.info]))


def _deployment_table(deps: list[Any]) -> Table:
    table = _table("name", "release", "traffic", "status", "replicas", "protocol", "predict",
                  "REST", "gRPC")
    for d in deps:
        traffic = ", ".join(f"{rid}: {pct}%" for rid, pct in d.traffic.items())
        if d.rollout is not None:
            traffic += f" ({d.rollout.mode.value})"
        table.add_row(d.name, d.release.release_id, traffic, d.status, str(d.replicas),
                      d.protocol.value, "anyone" if d.anonymous_predict else "team tokens",
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
def access(
    name: Annotated[str, typer.Argument(help="deployment name")],
    anonymous: Annotated[bool, typer.Option(
        "--anonymous/--token-required",
        help="let requests without a token predict, or require a token again (default)")],
    output: OutputOpt = Output.table,
) -> None:
    """Who may predict on a deployment (team admins). By default every prediction needs a
    token of the deployment's team (`ferry tokens create --scope predict` for a service);
    `--anonymous` opens it to requests without one, and is audited."""
    with _user_errors():
        dep = _client().set_anonymous_predict(name, anonymous)
    _emit(dep, output, _deployment_table([dep]))


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
        err_console.print(f"[red]error[/red]: rows are not valid JSON ({escape(str(e))})")
        raise typer.Exit(2) from e
    with _user_errors():
        result = _client().deployment(name).predict(data, protocol=protocol)  # type: ignore[arg-type]
    payload = {"predictions": result.predictions, "release_id": result.release_id,
               "protocol": result.protocol}
    table = _table("row", "prediction")
    for i, p in enumerate(result.predictions):
        table.add_row(str(i), str(p))
    table.caption = f"release {result.release_id} via {result.protocol}"
    _emit(payload, output, table)


# -- access -------------------------------------------------------------------------------
@app.command()
def login(
    token: Annotated[str | None, typer.Option(help="an API token (or pipe one on stdin)",
                                              envvar="FERRY_LOGIN_TOKEN")] = None,
    token_file: Annotated[Path | None, typer.Option(help="read the token from this file")] = None,
    url: Annotated[str | None, typer.Option(help="control-plane URL (default FERRY_URL)")] = None,
) -> None:
    """Check an API token against the control plane and save it for that URL.

    The token is stored in $FERRY_HOME/credentials.json (mode 600) and used by the CLI and
    by ferry.Client(). The local platform's admin token is in $FERRY_HOME/admin-token
    (`ferry up` logs you in with it).
    """
    settings = ClientSettings()
    target = (url or settings.url).rstrip("/")
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
    with _user_errors():
        who = Client(target, token=secret).whoami()
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
    with _user_errors():
        who = _client().whoami()
    table = _table("user", "platform admin", "roles", "token")
    table.add_row(who.user, "yes" if who.is_admin else "no",
                  ", ".join(f"{t}: {r.value}" for t, r in who.roles.items()) or "-", who.token_id)
    _emit(who, output, table)


eval_app = typer.Typer(
    help="Continuous evaluation: every candidate vs its champion and a trivial baseline.",
    no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _evaluation_tables(e: Any) -> list[Table]:
    ref = f"v{e.against}" if e.against else "champion"
    metrics = _table("metric", "baseline", ref, f"v{e.version}", f"Δ v{e.version} - {ref}",
                    title=f"{e.model} v{e.version} vs {ref if e.against else 'no champion'} "
                    f"vs baseline — eval set v{e.eval_set_version}, {e.rows} rows, "
                    f"{e.folds} fold(s)")
    names = list(e.metrics.get("candidate", {}))
    for name in names:
        cand = e.metrics.get("candidate", {}).get(name)
        champ = e.metrics.get("champion", {}).get(name)
        delta = cand - champ if cand is not None and champ is not None else None
        mark = " (primary)" if name == e.primary_metric else ""
        metrics.add_row(name + mark, _fmt(e.metrics.get("baseline", {}).get(name)),
                        _fmt(champ), _fmt(cand), _fmt(delta))
    gates = _table("gate", "passed", "detail",
                  title="gate: " + ("PASSED" if e.passed else "FAILED"))
    for c in e.gates:
        gates.add_row(c.name, "yes" if c.passed else "NO", c.detail)
    return [metrics, gates]


def _emit_evaluation(e: Any, output: Output) -> None:
    if output is Output.json:
        _emit(e, output)
        return
    for table in _evaluation_tables(e):
        _print(table)


@eval_app.command("set")
def eval_set(
    model: str,
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file of labelled rows")],
    label: Annotated[str, typer.Option(help="the column with the true outcome")],
    slice_column: Annotated[str | None, typer.Option("--slice", help="score each group "
                                                     "of this column separately")] = None,
    task: Annotated[str, typer.Option(help="auto, classification or regression")] = "auto",
    pin: Annotated[bool, typer.Option(help="admins: also make the gate use this version")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """Upload the model's next evaluation set version (kept in MLflow). The gate keeps
    its pinned version until an admin moves it (--pin, or `ferry eval gate --eval-set`)."""
    import pandas as pd

    with _user_errors():
        if not path.exists():
            raise InvalidRequest(f"no file {str(path)!r}")
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        created = _client().create_eval_set(model, frame, label=label,
                                            slice_column=slice_column, task=task, pin=pin)
    table = _table("model", "version", "rows", "label", "task", "slice", "digest")
    table.add_row(created.model, str(created.version), str(created.rows), created.label,
                  created.task, created.slice_column or "-", created.digest)
    _emit(created, output, table)


@eval_app.command("run")
def eval_run(
    model: str,
    version: int,
    against: Annotated[int | None, typer.Option(help="reference version "
                                                "(default: the champion)")] = None,
    eval_set: Annotated[int | None, typer.Option(help="evaluation set version "
                                                 "(default: the gate's)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Evaluate a version against the champion and a trivial baseline (a job)."""
    with _user_errors(), _job_progress(f"evaluating {model} v{version}") as progress:
        found = _client().evaluate(model, version, against=against, eval_set_version=eval_set,
                                   on_progress=progress)
    _emit_evaluation(found, output)


@eval_app.command("compare")
def eval_compare(model: str, base: int, candidate: int, output: OutputOpt = Output.table) -> None:
    """Candidate vs base vs baseline side by side, with the deltas and every gate check.

    \b
    ferry eval compare churn 3 4     # v4 against v3 (evaluates first if needed)
    """
    with _user_errors(), _job_progress(f"comparing {model} v{candidate} with v{base}") as p:
        found = _client().compare(model, base, candidate, on_progress=p)
    _emit_evaluation(found, output)


@eval_app.command("list")
def eval_list(model: str, version: int | None = None, output: OutputOpt = Output.table) -> None:
    """Stored evaluations, newest first."""
    with _user_errors():
        found = _client().evaluations(model, version)
    table = _table("version", "against", "eval set", "primary", "value", "passed", "run")
    for e in found:
        table.add_row(str(e.version), str(e.against or "-"), str(e.eval_set_version),
                      e.primary_metric, _fmt(e.metrics.get("candidate", {}).get(e.primary_metric)),
                      "yes" if e.passed else "NO", e.run_id)
    _emit(found, output, table)


@eval_app.command("gate")
def eval_gate(
    model: str,
    primary_metric: Annotated[str | None, typer.Option(help="e.g. roc_auc, f1_macro, rmse")] = None,
    tolerance: Annotated[float | None, typer.Option(help="allowed loss vs the champion")] = None,
    baseline_margin: Annotated[float | None, typer.Option(help="required gain over the "
                                                          "baseline")] = None,
    slice_tolerance: Annotated[float | None, typer.Option(help="allowed loss per slice")] = None,
    eval_set: Annotated[int | None, typer.Option(help="pin the evaluation set version the "
                                                 "gate uses")] = None,
    guardrail: Annotated[list[str] | None, typer.Option(
        help="METRIC=TOLERANCE (share of the champion's value), repeatable; 'none' for no "
             "guardrails, 'default' for the task's")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Show the model's gate, or change it (admins) with any of the options.

    \b
    ferry eval gate churn --eval-set 3                      # the gate uses eval set v3
    ferry eval gate churn --guardrail log_loss=0.05 --guardrail brier=0.1
    """
    with _user_errors():
        client = _client()
        fields: dict[str, Any] = {
            k: v for k, v in {"primary_metric": primary_metric, "tolerance": tolerance,
                              "baseline_margin": baseline_margin,
                              "slice_tolerance": slice_tolerance,
                              "eval_set_version": eval_set}.items() if v is not None}
        if guardrail:
            fields["guardrails"] = _guardrails(guardrail)
        gate = client.set_gate(model, **fields) if fields else client.gate(model)
    table = _table("setting", "value")
    for k, v in gate.model_dump().items():
        table.add_row(k, _fmt(v))
    _emit(gate, output, table)


def _guardrails(specs: list[str]) -> list[dict[str, Any]] | None:
    if specs == ["default"]:
        return None
    if specs == ["none"]:
        return []
    out = []
    for spec in specs:
        metric, sep, tol = spec.partition("=")
        try:
            out.append({"metric": metric.strip(), "tolerance": float(tol) if sep else 0.05})
        except ValueError as e:
            raise InvalidRequest(f"--guardrail {spec!r}: write METRIC=TOLERANCE, e.g. "
                                 "log_loss=0.05") from e
    return out


@eval_app.command("champion")
def eval_champion(
    model: str,
    version: int,
    reason: Annotated[str | None, typer.Option(help="admins: override a failed gate "
                                               "(audited)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Make a version the champion, only through its gate."""
    with _user_errors():
        found = _client().set_champion(model, version, reason=reason)
    table = _table("model", "champion")
    table.add_row(found.name, str(found.aliases.get("champion", "-")))
    _emit(found, output, table)


teams_app = typer.Typer(help="Teams and their members (roles: viewer, deployer, admin).",
                        no_args_is_help=True)
app.add_typer(teams_app, name="teams")


def _teams_table(teams: list[Any]) -> Table:
    table = _table("team", "members", "description")
    for t in teams:
        table.add_row(t.name, ", ".join(f"{u} ({r.value})" for u, r in t.members.items()) or "-",
                      t.description)
    return table


@teams_app.command("list")
def teams_list(output: OutputOpt = Output.table) -> None:
    """Every team and its members."""
    with _user_errors():
        teams = _client().teams()
    _emit(teams, output, _teams_table(teams))


@teams_app.command("create")
def teams_create(name: str, description: str = "", output: OutputOpt = Output.table) -> None:
    """Create a team (platform admins)."""
    with _user_errors():
        team = _client().create_team(name, description)
    _emit(team, output, _teams_table([team]))


@teams_app.command("add-member")
def teams_add_member(
    team: str, user: str,
    role: Annotated[str, typer.Option(help="viewer (read), deployer (change the team's models "
                                           "and deployments), admin (also its members)")] = "viewer",
    output: OutputOpt = Output.table,
) -> None:
    """Add a user to a team, or change their role (team admins)."""
    with _user_errors():
        result = _client().set_member(team, user, role)
    _emit(result, output, _teams_table([result]))


@teams_app.command("remove-member")
def teams_remove_member(team: str, user: str) -> None:
    """Remove a user from a team (team admins)."""
    with _user_errors():
        _client().remove_member(team, user)
    console.print(f"removed {user} from {team}")


users_app = typer.Typer(help="Users (platform admins create them).", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("list")
def users_list(output: OutputOpt = Output.table) -> None:
    with _user_errors():
        users = _client().users()
    table = _table("user", "platform admin", "disabled", "roles")
    for u in users:
        table.add_row(u.name, "yes" if u.is_admin else "no", "yes" if u.disabled else "no",
                      ", ".join(f"{t}: {r.value}" for t, r in u.roles.items()) or "-")
    _emit(users, output, table)


@users_app.command("update")
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
    with _user_errors():
        user = _client().update_user(name, is_admin=admin, disabled=disabled)
    _emit(user, output, None)


@users_app.command("create")
def users_create(name: str, admin: bool = False, output: OutputOpt = Output.table) -> None:
    """Create a user; then `ferry teams add-member` and `ferry tokens create --user`."""
    with _user_errors():
        user = _client().create_user(name, is_admin=admin)
    _emit(user, output, None)


tokens_app = typer.Typer(help="API tokens (stored hashed; a secret is shown once).",
                         no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
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
    with _user_errors():
        issued = _client().create_token(user=user, description=description,
                                        ttl_days=ttl_days or None, scope=scope)
    if output is Output.json:
        _emit(issued, output)
        return
    console.print(f"token {issued.id} for {issued.user}"
                  f"{', expires ' + issued.expires_at.isoformat() if issued.expires_at else ''}:")
    console.print(issued.token, soft_wrap=True, highlight=False)
    err_console.print("Store it now: it is not shown again. Use it with `ferry login --token ...`.")


@tokens_app.command("list")
def tokens_list(output: OutputOpt = Output.table) -> None:
    """Your tokens (platform admins: all), without their secrets."""
    with _user_errors():
        tokens = _client().tokens()
    table = _table("id", "user", "scope", "description", "created", "expires", "revoked")
    for t in tokens:
        table.add_row(t.id, t.user, t.scope.value, t.description,
                      t.created_at.isoformat(timespec="minutes"),
                      t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never",
                      t.revoked_at.isoformat(timespec="minutes") if t.revoked_at else "-")
    _emit(tokens, output, table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token at once (yours, or any as a platform admin)."""
    with _user_errors():
        _client().revoke_token(token_id)
    console.print(f"revoked {token_id}")


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
    with _user_errors():
        events = _client().audit(actor=actor, resource=resource, team=team, action=action,
                                 limit=limit)
    table = _table("when", "who", "action", "resource", "team", "outcome", "details")
    for e in events:
        details = e.details
        change = (f"{details.get('from_release') or '-'} -> {details.get('to_release') or '-'}"
                  if "to_release" in details else
                  _brief(", ".join(f"{k}={v}" for k, v in details.items()), 60))
        table.add_row(e.at.isoformat(timespec="seconds"), e.actor, e.action, e.resource,
                      e.team or "-", e.outcome, change)
    _emit(events, output, table)


# -- monitoring -----------------------------------------------------------------------------
def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _monitor_tables(report: Any) -> list[Table]:
    tables = []
    service = _table("release", "arms", "requests", "errors", "p50 ms", "p95 ms", "p99 ms",
                     "labelled", title=f"{report.deployment}: last {report.window} "
                     f"({report.start:%Y-%m-%d %H:%M} to {report.end:%H:%M} UTC)")
    for r in report.releases:
        s = r.service
        service.add_row(r.release_id, "/".join(r.arms), str(s.requests),
                        f"{s.errors} ({_rate(s.error_rate)})", _fmt(s.p50_ms), _fmt(s.p95_ms),
                        _fmt(s.p99_ms), str(r.labelled))
    tables.append(service)
    for r in report.releases:
        drift = _table("column", "method", "score", "threshold", "drifted", "null rate",
                       "out of range", "unseen", title=f"{r.release_id}: drift and fragility")
        health = {f.column: f for f in r.fragility}
        for d in [*r.drift, *r.prediction_drift]:
            f = health.get(d.column)
            drift.add_row(d.column, d.method or "-",
                          _fmt(d.score) if d.status == "ok" else d.status.replace("_", " "),
                          _fmt(d.threshold), "[red]YES[/red]" if d.drifted else "no",
                          _rate(f.null_rate) if f else "-",
                          _rate(f.out_of_range_rate) if f else "-",
                          _rate(f.unseen_category_rate) if f else "-")
        tables.append(drift)
        if r.slices:
            slices = _table("slice", "rows", "labelled", "positive rate", "TPR", "FPR",
                            "accuracy", title=f"{r.release_id}: slices")
            for g in r.slices:
                slices.add_row(f"{g.column}={g.group}", str(g.rows), str(g.labelled),
                               _fmt(g.positive_rate), _fmt(g.tpr), _fmt(g.fpr),
                               _fmt(g.accuracy))
            tables.append(slices)
    if report.business_value:
        value = _table("arm", "release", "n", "mean", "95% interval", "lift vs stable",
                       title="business value per arm")
        for v in report.business_value:
            interval = f"[{_fmt(v.ci_low)}, {_fmt(v.ci_high)}]"
            lift = "-" if v.lift is None else \
                f"{_fmt(v.lift)} [{_fmt(v.lift_ci_low)}, {_fmt(v.lift_ci_high)}]"
            value.add_row(v.arm, v.release_id, str(v.n), _fmt(v.mean), interval, lift)
        tables.append(value)
    tables.append(_alerts_table(report.alerts))
    return tables


def _alerts_table(alerts: list[Any]) -> Table:
    table = _table("id", "deployment", "kind", "subject", "state", "value", "threshold",
                   "opened", "message", title="alerts")
    for a in alerts:
        table.add_row(str(a.id), a.deployment, a.kind, a.subject, a.state.value,
                      _fmt(a.value), _fmt(a.threshold),
                      a.opened_at.isoformat(timespec="seconds"), _brief(a.message, 90))
    return table


@app.command()
def monitor(
    name: Annotated[str, typer.Argument(help="deployment name")],
    window: Annotated[str, typer.Option(help="how far back: 15m, 1h, 7d ...")] = "1h",
    latest: Annotated[bool, typer.Option(
        help="show the latest report (scheduled) instead of computing one now")] = False,
    plot: Annotated[Path | None, typer.Option(help="also draw it into this image (png)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Monitoring report of a deployment: per release, drift per feature and of the
    predictions, fragility (nulls, out-of-range values, unseen categories), latency and
    errors, slice metrics and business value once outcomes arrived, and open alerts.

    \b
    ferry monitor churn                  the last hour, computed now
    ferry monitor churn --window 7d -o json
    ferry monitor churn --plot drift.png
    """
    client = _client()
    with _user_errors():
        if latest:
            report = client.monitoring_report(name)
        else:
            with _job_progress(f"monitoring {name} (last {window})") as progress:
                report = client.monitoring(name, window, on_progress=progress)
    if plot is not None:
        report.plot(plot)
        err_console.print(f"drew {plot}")
    if output is Output.json:
        _emit(report.public, output)
        return
    for table in _monitor_tables(report.public):
        _print(table)


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
    with _user_errors():
        found = _client().alerts(deployment, state=state, limit=limit)
    _emit(found, output, _alerts_table(found))


# -- jobs -----------------------------------------------------------------------------------
jobs_app = typer.Typer(help="Long operations (deploy, undeploy, materialize, reconcile).",
                       invoke_without_command=True)
app.add_typer(jobs_app, name="jobs")


def _jobs_table(jobs: list[Any]) -> Table:
    table = _table("id", "kind", "target", "state", "%", "step", "actor", "created")
    for j in jobs:
        state = {"failed": "[red]failed[/red]", "succeeded": "[green]succeeded[/green]"}.get(
            j.state.value, j.state.value)
        table.add_row(j.id, j.kind.value, j.target, state, str(j.percent), _brief(j.step, 50), j.actor,
                      j.created_at.isoformat(timespec="seconds"))
    return table


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(
        help="one of: " + ", ".join(k.value for k in JobKind))] = None,
    target: Annotated[str | None, typer.Option(help="deployment name, or 'features'")] = None,
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    output: OutputOpt = Output.table,
) -> None:
    """List recent jobs, newest first (`ferry jobs show ID` for one, with its log)."""
    if ctx.invoked_subcommand is not None:
        return
    with _user_errors():
        jobs = _client().jobs(kind=kind, target=target, state=state, limit=limit)
    _emit(jobs, output, _jobs_table(jobs))


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="job id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait for it to end")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """One job: state, progress, result or error, and its log."""
    client = _client()
    with _user_errors():
        if follow:
            with _job_progress(f"job {job_id}") as progress:
                try:
                    client.wait(job_id, on_progress=progress)
                except FerryError:
                    pass  # shown below with the log
        job = client.job(job_id)
        logs = client.job_logs(job_id)
    if output is Output.json:
        _emit({**job.model_dump(mode="json"), "logs": [line.model_dump(mode="json")
                                                       for line in logs]}, output)
        return
    _print(_jobs_table([job]))
    for line in logs:
        console.print(f"  {line.at.isoformat(timespec='seconds')}  {escape(line.line)}",
                      soft_wrap=True)  # a pipe gets whole lines
    if job.error:
        err_console.print(f"[red]error[/red] ({escape(str(job.error.get('code')))}): "
                          f"{escape(str(job.error.get('message')))}")
        raise typer.Exit(2)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
