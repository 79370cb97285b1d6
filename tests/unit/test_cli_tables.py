"""The CLI's tables never shorten a cell: in a pipe every row is one whole line (so `grep`
and `awk` see full release ids, endpoints and digests); at an 80-column terminal a long
cell wraps inside its column instead of ending in "…"."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

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
