"""The CLI's tables never shorten a cell: in a pipe every row is one whole line (so `grep`
and `awk` see full release ids, endpoints and digests); at an 80-column terminal a long
cell wraps inside its column instead of ending in "…"; `-o wide` keeps each row whole on
one line even at a terminal."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import _fake_plane_cli as fake
import pytest
from rich.console import Console
from typer.testing import CliRunner

import ferry.cli as cli
from ferry.cli import _common, _deployments

RELEASE = "churn-prediction-v12-9f8e7d6c5b4a39281716151413121110"
REST = "http://serve.internal.example.com:8000/churn-prediction/predict"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def deployment() -> Any:
    return SimpleNamespace(
        name="churn-prediction", release=SimpleNamespace(release_id=RELEASE),
        traffic={RELEASE: 100}, rollout=None, status="HEALTHY", replicas=2,
        protocol=SimpleNamespace(value="rest"), anonymous_predict=False,
        endpoints=SimpleNamespace(rest=REST, grpc="serve.internal.example.com:9000",
                                  grpc_application="churn-prediction"))


class StubClient:
    def deployments(self) -> list[Any]:
        return [deployment()]

    def versions(self, name: str) -> list[Any]:
        return [SimpleNamespace(version=3, framework="sklearn", model_digest=DIGEST,
                                training_data_digest=DIGEST, code_version="a" * 40,
                                signature=[SimpleNamespace(name="tenure", type="long")])]


@pytest.fixture()
def stub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "make_client", lambda *a, **k: StubClient())  # the CLI's seam


@pytest.mark.parametrize("args, whole", [
    (["status"], [RELEASE, REST]),
    (["models", "show", "churn"], [DIGEST, "a" * 40]),
])
def test_in_a_pipe_every_cell_is_whole_and_each_row_one_line(
        stub: None, args: list[str], whole: list[str]) -> None:
    out = CliRunner().invoke(cli.app, args).output
    assert "…" not in out
    for value in whole:
        assert any(value in line for line in out.splitlines()), (value, out)


def test_at_an_80_column_terminal_long_cells_wrap_in_their_column(
        monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(_common, "console", Console(file=screen, width=80, force_terminal=True,
                                                    color_system=None))
    _common.print_table(_deployments._deployment_table([deployment()]))
    lines = screen.getvalue().splitlines()
    assert "…" not in screen.getvalue()
    assert all(len(line) <= 80 for line in lines)
    rows = [line.split("│") for line in lines if line.startswith("│")]
    release_column = "".join(cells[2].strip() for cells in rows)
    assert release_column == RELEASE  # wrapped over several lines, every character kept


# The real `ferry` entry point in a real pipe and on a real 80-column pseudo-terminal, its
# client talking HTTP to a fake control plane (tests/_fake_plane_cli.py) that answers with
# the wire contract's models.

DRIVER = Path(__file__).parents[1] / "_fake_plane_cli.py"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    return {**env, "TERM": "xterm"}


def in_a_pipe(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(DRIVER), *args], capture_output=True, text=True,
                          env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def on_a_terminal(*args: str, columns: int = 80) -> str:
    """What the command shows on a pseudo-terminal ``columns`` wide (styles stripped)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, str(DRIVER), *args], stdin=child, stdout=child,
                            stderr=subprocess.PIPE, env=_env())
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(120) == 0, proc.stderr.read() if proc.stderr else ""
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def columns_of(screen: str) -> list[str]:
    """Each column's cells joined top to bottom (a wrapped value comes out whole)."""
    rows = [line.strip().strip("│┃").split("│") for line in screen.splitlines()
            if line.startswith("│")]
    return ["".join(row[i].strip() for row in rows if i < len(row))
            for i in range(max(map(len, rows)))]


COMMANDS = [["status"], ["models", "show", "churn-prediction"]]
SHOWN = {"status": [fake.RELEASE, fake.CANDIDATE, fake.REST, fake.GRPC],
         "models": [fake.DIGEST, fake.DATA_DIGEST, fake.CODE]}


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_real_cli_in_a_pipe_prints_every_id_whole_on_its_row(args: list[str]) -> None:
    out = in_a_pipe(*args)
    assert "…" not in out
    [row] = [line for line in out.splitlines() if line.startswith("│")]  # one row, one line
    for value in SHOWN[args[0]]:
        assert value in row, (value, out)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_real_cli_at_80_columns_wraps_ids_instead_of_cutting_them(args: list[str]) -> None:
    screen = on_a_terminal(*args)
    assert "…" not in screen
    assert max(len(line) for line in screen.splitlines()) <= 80, screen
    cells = columns_of(screen)
    for value in SHOWN[args[0]]:
        assert any(value in cell for cell in cells), (value, screen)


def test_wide_output_at_a_terminal_keeps_each_row_on_one_line() -> None:
    args = ["status", "churn-prediction"]
    screen = on_a_terminal(*args, "-o", "wide")
    [row] = [line for line in screen.splitlines() if line.startswith("│")]
    for value in SHOWN[args[0]]:
        assert value in row, (value, screen)
