"""``-o json`` and ``-o yaml`` carry the same values, for a single object and for a list,
and every command that prints a result offers all four formats (table, wide, json, yaml)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

import ferry.cli as cli
from ferry.cli import _common
from ferry_contract import JobKind, JobPublic, JobState, PrincipalPublic, Role

WHO = PrincipalPublic(user="kim", is_admin=False, roles={"risk": Role.deployer}, token_id="t-1")
JOB = JobPublic.model_validate({
    "id": "j-1", "kind": JobKind.deploy, "target": "churn", "state": JobState.succeeded,
    "percent": 100, "step": "serving", "actor": "kim", "created_at": datetime(2026, 1, 2, tzinfo=UTC)})


class StubClient:
    def whoami(self) -> PrincipalPublic:
        return WHO

    def jobs(self, **filters: Any) -> list[JobPublic]:
        return [JOB]


@pytest.fixture(autouse=True)
def stub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "make_client", lambda *a, **k: StubClient())


@pytest.mark.parametrize("args", [["whoami"], ["jobs"]])
def test_yaml_and_json_carry_the_same_values(args: list[str]) -> None:
    as_json = CliRunner().invoke(cli.app, [*args, "-o", "json"])
    as_yaml = CliRunner().invoke(cli.app, [*args, "-o", "yaml"])
    assert as_json.exit_code == as_yaml.exit_code == 0, as_json.output + as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    assert not as_yaml.stdout.lstrip().startswith(("{", "["))  # block style, for people too


def test_every_output_option_offers_table_wide_json_and_yaml() -> None:
    def paths(cmd: Any, path: list[str]) -> Any:
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from paths(sub, [*path, name])

    offered = {" ".join(path): CliRunner().invoke(cli.app, [*path, "--help"]).output
               for path, cmd in paths(typer.main.get_command(cli.app), [])
               if any(p.name == "output" for p in cmd.params)}
    assert len(offered) > 25
    assert {path for path, text in offered.items() if "<table|wide|json|yaml>" not in text} == set()
