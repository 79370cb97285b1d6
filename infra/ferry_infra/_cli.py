"""``ferry infra``: the platform engineer's side of Ferry (also ``python -m ferry_infra``).

Onboard a team by data (``team add`` writes ``teams/<name>.yaml`` and shows the resources it
implies), check a stack against the policies (``preview``), and turn a stack's outputs into
Ferry's settings (``settings``). Nothing here touches AWS: previews run the Pulumi program under
mocks; ``pulumi preview`` / ``pulumi up`` are the real thing (docs/infrastructure.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ._errors import InfraError
from ._teams import TeamSpec, load_teams

app = typer.Typer(
    name="ferry infra",
    help=(
        "Ferry's infrastructure as code (Pulumi, AWS): teams as data, policy previews, settings.\n\n"
        "\b\n"
        "  ferry infra team add fraud -m ana@example.com --cpu 16 --memory-gib 64\n"
        "                                 write teams/fraud.yaml and show the resources it adds\n"
        "  ferry infra preview --stack prod   every resource under mocks + the policy checks\n"
        "  ferry infra settings --stack prod --write ~/.ferry/ferry.env\n"
        "                                 the stack's outputs as Ferry's FERRY_* settings\n\n"
        "Apply for real with `pulumi preview` / `pulumi up` in infra/ (docs/infrastructure.md)."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
team_app = typer.Typer(help="Teams: one validated YAML file each under infra/teams/.", no_args_is_help=True)
app.add_typer(team_app, name="team")
console = Console()
err = Console(stderr=True)


class Output(str, Enum):
    table = "table"
    json = "json"


class Format(str, Enum):
    dotenv = "dotenv"
    shell = "shell"


def _default_infra_dir() -> Path:
    env = os.environ.get("FERRY_INFRA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1]


InfraDir = Annotated[
    Path,
    typer.Option(
        "--infra-dir",
        help="The Pulumi project (Pulumi.yaml, stack files, "
        "teams/). Default: $FERRY_INFRA_DIR or the repository's infra/.",
    ),
]
Stack = Annotated[str, typer.Option("--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml.")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table for people, json for scripts.")]


def _fail(e: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {e}", highlight=False)
    return typer.Exit(2)


def _simulate(infra_dir: Path, stack: str, teams: list[TeamSpec] | None = None) -> Any:
    from ._config import StackConfig
    from ._simulate import simulate

    config = StackConfig.from_stack_file(infra_dir / f"Pulumi.{stack}.yaml")
    with err.status(f"Running the program for stack {stack} under Pulumi mocks…"):
        return simulate(config, load_teams(infra_dir / "teams") if teams is None else teams)


@team_app.command("add")
def team_add(
    name: Annotated[str, typer.Argument(help="Team name: 3-32 lowercase letters, digits or '-'.")],
    member: Annotated[list[str], typer.Option("--member", "-m", help="A member's e-mail (repeat).")],
    cpu: Annotated[float, typer.Option(help="CPU cores the namespace may request in total.")],
    memory_gib: Annotated[int, typer.Option(help="Memory (GiB) the namespace may request in total.")],
    gpus: Annotated[
        int, typer.Option(help="GPUs the namespace may request; > 0 lets the team use GPUs.")
    ] = 0,
    pods: Annotated[int, typer.Option(help="Pods in the namespace.")] = 100,
    cost_centre: Annotated[str | None, typer.Option(help="Billing code; default: the stack's.")] = None,
    stack: Stack = "dev",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")] = False,
    infra_dir: InfraDir = _default_infra_dir(),
    output: OutputOpt = Output.table,
) -> None:
    """Onboard a team: write teams/<name>.yaml and show the resources it adds to a stack.

    The diff is computed by running the Pulumi program under mocks with and without the file.
    Review it, commit the file, then a platform engineer runs `pulumi preview` / `pulumi up`.
    """
    from pydantic import ValidationError

    from ._errors import describe
    from ._simulate import diff
    from ._teams import write_team

    try:
        spec = TeamSpec.model_validate(
            {
                "name": name,
                "members": member,
                "cost_centre": cost_centre,
                "gpu": gpus > 0,
                "quotas": {"cpu": cpu, "memory_gib": memory_gib, "gpus": gpus, "pods": pods},
            }
        )
    except ValidationError as e:
        raise _fail(InfraError(f"team {name!r} is invalid:\n  " + "\n  ".join(describe(e)))) from None
    teams_dir = infra_dir / "teams"
    try:
        current = load_teams(teams_dir)
        if any(t.name == spec.name for t in current) or (teams_dir / f"{spec.name}.yaml").exists():
            raise InfraError(f"team {spec.name!r} already exists in {teams_dir}; edit its file instead")
        before = _simulate(infra_dir, stack, current)
        after = _simulate(infra_dir, stack, [*current, spec])
        path = None if dry_run else write_team(teams_dir, spec)
    except InfraError as e:
        raise _fail(e) from None
    changes = diff(before, after)
    if output is Output.json:
        console.print_json(
            json.dumps(
                {
                    "file": str(path) if path else None,
                    "team": spec.model_dump(),
                    "changes": [c.__dict__ for c in changes],
                },
                default=list,
            )
        )
        return
    table = Table(title=f"stack {stack}: {len(changes)} changes", title_justify="left")
    for col in ("", "type", "name"):
        table.add_column(col)
    for c in changes:
        table.add_row(c.op, c.type, c.name + (f" ({', '.join(c.fields)})" if c.fields else ""))
    console.print(table)
    if path:
        console.print(
            f"Wrote {path}. Review and commit it; then in {infra_dir}: "
            f"`pulumi preview --stack {stack}` and `pulumi up --stack {stack}`."
        )
    else:
        console.print(spec.to_yaml(), highlight=False)
        console.print("(dry run: nothing written)")


@team_app.command("list")
def team_list(infra_dir: InfraDir = _default_infra_dir(), output: OutputOpt = Output.table) -> None:
    """The teams onboarded in this repository (validated)."""
    try:
        teams = load_teams(infra_dir / "teams")
    except InfraError as e:
        raise _fail(e) from None
    if output is Output.json:
        console.print_json(json.dumps([t.model_dump() for t in teams]))
        return
    table = Table()
    for col in ("team", "members", "cpu", "memory", "gpus", "cost centre"):
        table.add_column(col)
    for t in teams:
        table.add_row(
            t.name,
            ", ".join(t.members),
            str(t.quotas.cpu),
            f"{t.quotas.memory_gib} GiB",
            str(t.quotas.gpus),
            t.cost_centre or "(stack's)",
        )
    console.print(table)


@app.command()
def preview(
    stack: Stack = "dev", infra_dir: InfraDir = _default_infra_dir(), output: OutputOpt = Output.table
) -> None:
    """Every resource the stack declares (under mocks) and the policy checks; exits 1 on a violation.

    Policies: private, encrypted, versioned buckets; private data stores; nodes in private
    subnets; IAM scoped to its own buckets and prefixes; tags on everything.
    """
    from collections import Counter

    from ._policies import check
    from ._program import SECRET_OUTPUTS

    try:
        sim = _simulate(infra_dir, stack)
    except InfraError as e:
        raise _fail(e) from None
    violations = check(sim)
    outputs = {k: "[secret]" if k in SECRET_OUTPUTS else v for k, v in sim.outputs.items()}
    if output is Output.json:
        console.print_json(
            json.dumps(
                {
                    "resources": [{"type": r.type, "name": r.name} for r in sim.resources],
                    "outputs": outputs,
                    "violations": [str(v) for v in violations],
                }
            )
        )
    else:
        table = Table(title=f"stack {stack}: {len(sim.resources)} resources", title_justify="left")
        table.add_column("type")
        table.add_column("count", justify="right")
        for type_, n in sorted(Counter(r.type for r in sim.resources).items()):
            table.add_row(type_, str(n))
        console.print(table)
        for v in violations:
            err.print(f"[red]violation[/red] {v}", highlight=False)
        console.print(f"{len(violations)} policy violations" if violations else "all policies pass")
    if violations:
        raise typer.Exit(1)


@app.command()
def settings(
    stack: Stack = "dev",
    outputs: Annotated[
        Path | None,
        typer.Option(
            help="JSON of `pulumi stack output --json --show-secrets` ('-' for stdin). Default: run that "
            "command for --stack (needs the Pulumi CLI and the stack's credentials)."
        ),
    ] = None,
    fmt: Annotated[
        Format,
        typer.Option(
            "--format", "-f", help="dotenv (for $FERRY_HOME/ferry.env) or shell (export lines for `eval`)."
        ),
    ] = Format.dotenv,
    write: Annotated[
        Path | None, typer.Option(help="Write to this file (mode 0600) instead of stdout.")
    ] = None,
    infra_dir: InfraDir = _default_infra_dir(),
) -> None:
    """Turn a stack's outputs into Ferry's settings, so the platform runs against that stack.

    \b
      ferry infra settings --stack prod --write ~/.ferry/ferry.env
      pulumi stack output --json --show-secrets | ferry infra settings --outputs - -f shell
    """
    from ._settings import render_settings, settings_from_outputs

    try:
        if outputs is None:
            proc = subprocess.run(
                ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
                cwd=infra_dir,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode:
                raise InfraError(f"`pulumi stack output --stack {stack}` failed: {proc.stderr.strip()}")
            raw = proc.stdout
        else:
            raw = sys.stdin.read() if str(outputs) == "-" else outputs.read_text()
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InfraError(f"stack outputs are not JSON ({e}); pass `pulumi stack output --json`") from None
        text = render_settings(settings_from_outputs(values), fmt.value)
    except (InfraError, OSError) as e:
        raise _fail(e) from None
    if write is None:
        sys.stdout.write(text)
        return
    write.parent.mkdir(parents=True, exist_ok=True)
    write.touch(mode=0o600)
    write.chmod(0o600)
    write.write_text(text)
    err.print(f"Wrote {write} ({len(text.splitlines()) - 1} settings; it holds secrets, mode 0600).")


def main() -> None:
    app(prog_name="ferry infra")
