"""What every noun of the CLI shares: the client seam, output formats, tables, errors, progress.

A noun module imports what it needs from here by name; the one thing it must not do is build
a :class:`~ferry.Client` itself: it calls :func:`client`, which goes through the seam
:func:`make_client` (see the package docstring).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ferry._client import Client
from ferry_contract import FerryError, redact

console = Console()
err_console = Console(stderr=True)


def make_client(url: str | None = None, *, token: str | None = None) -> Client:
    """The seam between the CLI and the control plane: every command's client comes from
    here. Tests replace it, e.g. ``monkeypatch.setattr(ferry.cli._common, "make_client",
    lambda *a, **k: stub)``, to drive the commands against a stub or an in-process plane."""
    return Client(url, token=token)


def client(url: str | None = None, *, token: str | None = None) -> Client:
    """A client for a command: :func:`make_client`, looked up when called, so a replaced
    seam reaches every command however the command imported this function."""
    return make_client(url, token=token)


class Output(str, Enum):
    """How a command prints its result: a table for people (``wide``: every cell whole and
    each row on one line, even at a terminal), json or yaml for scripts."""

    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"

    @property
    def for_people(self) -> bool:
        """Whether this is one of the table formats."""
        return self in (Output.table, Output.wide)


OutputOpt = Annotated[Output, typer.Option(
    "--output", "-o", help="table (people; ids, endpoints and digests wrap, never cut), wide "
    "(every cell whole, one line per row), json or yaml (scripts)")]


def table(*headers: str, **options: Any) -> Table:
    """A table that never shortens a cell: at a terminal a long id or endpoint wraps inside
    its column; in a pipe or a file (see :func:`print_table`) every row stays on one line."""
    result = Table(*headers, **options)
    for column in result.columns:
        column.overflow = "fold"
    return result


def brief(text: str, length: int, output: Output = Output.table) -> str:
    """Free text (a job's step, an alert's message, audit details) cut to ``length`` in a
    table at a terminal; whole in a pipe and with ``-o wide``. Never for ids, endpoints or
    digests: those wrap in their column (see :func:`table`)."""
    return text[:length] if output is Output.table and console.is_terminal else text


def print_table(rows: Table, output: Output = Output.table) -> None:
    """At a terminal, at its width (long cells wrap in their column); elsewhere (a pipe, a
    file, CI's log) and with ``-o wide``, as wide as the rows need, so `ferry status | grep
    churn` sees whole ids and endpoints, one row a line."""
    if console.is_terminal and output is Output.table:
        console.print(rows)
    else:
        Console(file=console.file, width=100_000, force_terminal=console.is_terminal,
                no_color=console.no_color).print(rows)


def emit(data: Any, output: Output, rows: Table | None = None) -> None:
    """``data`` for scripts (json or yaml), or ``rows`` for people; json when a command has
    no table. Both formats carry the same values: yaml is written from the json form."""
    if output.for_people and rows is not None:
        print_table(rows, output)
        return

    def plain(x: Any) -> Any:
        if isinstance(x, BaseModel):
            return x.model_dump(mode="json")
        if isinstance(x, list):
            return [plain(i) for i in x]
        return x
    text = json.dumps(plain(data), indent=2, default=str)
    if output is Output.yaml:
        import yaml  # only when asked for: `import ferry.cli` stays light

        text = yaml.safe_dump(json.loads(text), sort_keys=False, allow_unicode=True).rstrip("\n")
    sys.stdout.write(text + "\n")


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a Ferry error as one line (no traceback, no credential, e.g. of a FERRY_URL
    with a password); exit 2 for user errors, 1 otherwise."""
    try:
        yield
    except FerryError as e:
        # the message is text, not markup: a "[...]" in it (a path in a log line) is printed
        err_console.print(f"[red]error[/red] ({escape(e.code)}): {escape(redact(e.message))}")
        raise typer.Exit(code=2 if e.status < 500 else 1) from None


@contextmanager
def job_progress(title: str) -> Iterator[Any]:
    """A progress bar (on stderr) fed by a job's ``on_progress(step, percent)``."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(title, total=100)

        def update(step: str, percent: int) -> None:
            bar.update(task, completed=percent, description=step[:70])

        yield update


def follow_job(api: Client, job_id: str, title: str) -> None:
    """Wait for a job with a progress bar; a job that fails is shown by the caller."""
    with job_progress(title) as progress:
        try:
            api.wait(job_id, on_progress=progress)
        except FerryError:
            pass  # the caller shows the job, its error included
