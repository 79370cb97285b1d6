"""``ferry eval``: continuous evaluation, evaluation sets, the gate and the champion."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ferry.cli._common import Output, OutputOpt, client, emit, job_progress, print_table, table, user_errors
from ferry_contract import InvalidRequest

app = typer.Typer(
    name="eval",
    help="Continuous evaluation: every candidate vs its champion and a trivial baseline.",
    no_args_is_help=True)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _evaluation_tables(e: Any) -> list[Table]:
    ref = f"v{e.against}" if e.against else "champion"
    metrics = table("metric", "baseline", ref, f"v{e.version}", f"Δ v{e.version} - {ref}",
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
    gates = table("gate", "passed", "detail",
                  title="gate: " + ("PASSED" if e.passed else "FAILED"))
    for c in e.gates:
        gates.add_row(c.name, "yes" if c.passed else "NO", c.detail)
    return [metrics, gates]


def _emit_evaluation(e: Any, output: Output) -> None:
    if not output.for_people:
        emit(e, output)
        return
    for rows in _evaluation_tables(e):
        print_table(rows, output)


@app.command("set")
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

    with user_errors():
        if not path.exists():
            raise InvalidRequest(f"no file {str(path)!r}")
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        created = client().create_eval_set(model, frame, label=label,
                                           slice_column=slice_column, task=task, pin=pin)
    rows = table("model", "version", "rows", "label", "task", "slice", "digest")
    rows.add_row(created.model, str(created.version), str(created.rows), created.label,
                 created.task, created.slice_column or "-", created.digest)
    emit(created, output, rows)


@app.command("run")
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
    with user_errors(), job_progress(f"evaluating {model} v{version}") as progress:
        found = client().evaluate(model, version, against=against, eval_set_version=eval_set,
                                  on_progress=progress)
    _emit_evaluation(found, output)


@app.command("compare")
def eval_compare(model: str, base: int, candidate: int, output: OutputOpt = Output.table) -> None:
    """Candidate vs base vs baseline side by side, with the deltas and every gate check.

    \b
    ferry eval compare churn 3 4     # v4 against v3 (evaluates first if needed)
    """
    with user_errors(), job_progress(f"comparing {model} v{candidate} with v{base}") as p:
        found = client().compare(model, base, candidate, on_progress=p)
    _emit_evaluation(found, output)


@app.command("list")
def eval_list(model: str, version: int | None = None, output: OutputOpt = Output.table) -> None:
    """Stored evaluations, newest first."""
    with user_errors():
        found = client().evaluations(model, version)
    rows = table("version", "against", "eval set", "primary", "value", "passed", "run")
    for e in found:
        rows.add_row(str(e.version), str(e.against or "-"), str(e.eval_set_version),
                     e.primary_metric, _fmt(e.metrics.get("candidate", {}).get(e.primary_metric)),
                     "yes" if e.passed else "NO", e.run_id)
    emit(found, output, rows)


@app.command("gate")
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
    with user_errors():
        api = client()
        fields: dict[str, Any] = {
            k: v for k, v in {"primary_metric": primary_metric, "tolerance": tolerance,
                              "baseline_margin": baseline_margin,
                              "slice_tolerance": slice_tolerance,
                              "eval_set_version": eval_set}.items() if v is not None}
        if guardrail:
            fields["guardrails"] = _guardrails(guardrail)
        gate = api.set_gate(model, **fields) if fields else api.gate(model)
    rows = table("setting", "value")
    for k, v in gate.model_dump().items():
        rows.add_row(k, _fmt(v))
    emit(gate, output, rows)


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


@app.command("champion")
def eval_champion(
    model: str,
    version: int,
    reason: Annotated[str | None, typer.Option(help="admins: override a failed gate "
                                               "(audited)")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Make a version the champion, only through its gate."""
    with user_errors():
        found = client().set_champion(model, version, reason=reason)
    rows = table("model", "champion")
    rows.add_row(found.name, str(found.aliases.get("champion", "-")))
    emit(found, output, rows)
