"""``ferry deploy``, ``rollout``, ``status``, ``undeploy``, ``access``, ``predict``: deployments."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ferry.cli._common import (
    Output,
    OutputOpt,
    client,
    console,
    emit,
    err_console,
    job_progress,
    table,
    user_errors,
)
from ferry.cli._jobs import jobs_table
from ferry_contract import InvalidRequest

app = typer.Typer()


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int, typer.Option("--version", "-v", help="exact model version")],
    name: Annotated[str | None, typer.Option(help="deployment name (default: the model name)")] = None,
    protocol: Annotated[str, typer.Option(help="auto (REST+gRPC), rest or grpc")] = "auto",
    replicas: Annotated[str | None, typer.Option(
        help="N (a fixed count) or auto (Ray Serve scales by load; default: the platform's "
             "fixed count)")] = None,
    min_replicas: Annotated[int | None, typer.Option(
        help="autoscaling: the fewest replicas (default 1); implies --replicas auto")] = None,
    max_replicas: Annotated[int | None, typer.Option(
        help="autoscaling: the most replicas (default: the platform's); implies "
             "--replicas auto")] = None,
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

    Autoscaling: `ferry deploy churn -v 3 --replicas auto --max-replicas 6`.
    """
    api = client()
    with user_errors():
        scaling = _scaling(replicas, min_replicas, max_replicas)
        if detach:
            job = api.start_deploy(model, version=version, name=name, protocol=protocol,
                                   allow_contract_change=breaking, **scaling)
            emit(job, output, jobs_table([job], output))
            return
        with job_progress(f"deploying {model} v{version}") as progress:
            dep = api.deploy(model, version=version, name=name, protocol=protocol,
                             allow_contract_change=breaking, on_progress=progress,
                             **scaling)
    emit(dep.info, output, _deployment_table([dep.info]))


def _scaling(replicas: str | None, low: int | None, high: int | None) -> dict[str, Any]:
    """``--replicas auto|N``, ``--min-replicas``, ``--max-replicas`` as deploy arguments."""
    count: int | str | None = replicas
    if replicas is not None and replicas != "auto":
        try:
            count = int(replicas)
        except ValueError:
            raise InvalidRequest(f"--replicas {replicas!r} is neither a number nor 'auto'; "
                                 "give a count (e.g. 2) or auto") from None
    if count is None and (low is not None or high is not None):
        count = "auto"
    return {"replicas": count, "min_replicas": low, "max_replicas": high}


@app.command()
def scale(
    name: Annotated[str, typer.Argument(help="deployment name")],
    replicas: Annotated[str, typer.Option(help="N (a fixed count) or auto")],
    min_replicas: Annotated[int | None, typer.Option(help="autoscaling: the fewest")] = None,
    max_replicas: Annotated[int | None, typer.Option(help="autoscaling: the most")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Run the serving release of NAME on N replicas, or autoscaled (--replicas auto
    [--min-replicas A] [--max-replicas B]): a deploy of the same version, which reuses its
    release (no rebuild, no preflight; running replicas are not restarted)."""
    api = client()
    with user_errors():
        scaling = _scaling(replicas, min_replicas, max_replicas)
        current = api.status(name)
        if current.rollout is not None:
            raise InvalidRequest(f"{name!r} has a rollout under way; promote or abort it "
                                 "before scaling")
        with job_progress(f"scaling {name}") as progress:
            dep = api.deploy(current.release.model, version=current.release.version,
                             name=name, protocol=current.protocol, on_progress=progress,
                             **scaling)
    emit(dep.info, output, _deployment_table([dep.info]))


def _replicas(d: Any) -> str:
    """``2``, ``1-4 auto``, with ``(3 up)`` when the runtime says how many run."""
    high, up = getattr(d, "max_replicas", None), getattr(d, "running_replicas", None)
    scale = f"{d.replicas}-{high} auto" if high else str(d.replicas)
    return scale if up is None else f"{scale} ({up} up)"


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
    api = client()
    with user_errors():
        if action is RolloutAction.status:
            info = api.status(name)
            emit(info, output, _deployment_table([info]))
            return
        if action is RolloutAction.shadow:
            report = api.shadow_report(name)
            rows = table("shadow release", "requests", "agreed", "disagreed", "errors",
                         "agreement")
            rows.add_row(report.shadow_release_id or "-", str(report.requests),
                         str(report.agreed), str(report.disagreed), str(report.shadow_errors),
                         "-" if report.agreement is None else f"{report.agreement:.1%}")
            emit(report, output, rows)
            return
        with job_progress(f"{action.value} {name}") as progress:
            if action is RolloutAction.promote:
                dep = api.promote(name, reason=reason, on_progress=progress)
            elif action is RolloutAction.rollback:
                dep = api.rollback(name, on_progress=progress)
            elif action is RolloutAction.abort:
                dep = api.abort(name, on_progress=progress)
            elif weight is not None and version is None:
                dep = api.set_weight(name, weight, on_progress=progress)
            elif version is None:
                raise InvalidRequest(
                    "say what to roll out: --version N (with --canary P, --ab P --sticky-key "
                    "COL or --shadow), or --weight P to re-weight the rollout under way")
            else:
                dep = api.rollout(name, version=version, canary=canary, ab=ab,
                                  sticky_key=sticky_key, shadow=shadow, on_progress=progress)
    emit(dep.info, output, _deployment_table([dep.info]))


def _deployment_table(deps: list[Any]) -> Table:
    rows = table("name", "release", "traffic", "status", "replicas", "protocol", "predict",
                 "REST", "gRPC")
    for d in deps:
        traffic = ", ".join(f"{rid}: {pct}%" for rid, pct in d.traffic.items())
        if d.rollout is not None:
            traffic += f" ({d.rollout.mode.value})"
        rows.add_row(d.name, d.release.release_id, traffic, d.status, _replicas(d),
                     d.protocol.value, "anyone" if d.anonymous_predict else "team tokens",
                     d.endpoints.rest or "-",
                     f"{d.endpoints.grpc} (application={d.endpoints.grpc_application})"
                     if d.endpoints.grpc else "-")
    return rows


@app.command()
def status(
    name: Annotated[str | None, typer.Argument(help="deployment name (default: all)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Show deployments: the release each serves, health, replicas and endpoints."""
    with user_errors():
        api = client()
        deps = [api.status(name)] if name else api.deployments()
    emit(deps[0] if name else deps, output, _deployment_table(deps))


@app.command()
def undeploy(name: Annotated[str, typer.Argument(help="deployment name")]) -> None:
    """Stop serving a deployment and remove its Ray Serve application."""
    with user_errors():
        client().undeploy(name)
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
    with user_errors():
        dep = client().set_anonymous_predict(name, anonymous)
    emit(dep, output, _deployment_table([dep]))


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
    with user_errors():
        result = client().deployment(name).predict(data, protocol=protocol)  # type: ignore[arg-type]
    payload = {"predictions": result.predictions, "release_id": result.release_id,
               "protocol": result.protocol}
    answers = table("row", "prediction")
    for i, p in enumerate(result.predictions):
        answers.add_row(str(i), str(p))
    answers.caption = f"release {result.release_id} via {result.protocol}"
    emit(payload, output, answers)
