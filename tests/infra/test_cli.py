"""`ferry infra`: onboarding a team writes a valid file and shows the resources it adds; preview
runs the policies; settings refuses outputs it cannot use, naming them; the docs list every
stack config key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _infra import INFRA
from pydantic import BaseModel

from ferry_infra import StackConfig, parse_team

FERRY = [sys.executable, "-m", "ferry.cli"]


def _ferry(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FERRY, "infra", *args], capture_output=True, text=True, timeout=300, input=stdin)


@pytest.fixture()
def infra_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "infra"
    copy.mkdir()
    for f in INFRA.glob("Pulumi*.yaml"):
        shutil.copy(f, copy / f.name)
    shutil.copytree(INFRA / "teams", copy / "teams")
    return copy


def test_team_add_writes_the_file_and_shows_its_resources(infra_copy: Path) -> None:
    done = _ferry(
        "team",
        "add",
        "vision",
        "-m",
        "kim@example.com",
        "-m",
        "lee@example.com",
        "--cpu",
        "8",
        "--memory-gib",
        "32",
        "--gpus",
        "1",
        "--infra-dir",
        str(infra_copy),
        "-o",
        "json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    spec = parse_team(infra_copy / "teams" / "vision.yaml")
    assert (spec.gpu, spec.quotas.gpus, spec.members) == (True, 1, ["kim@example.com", "lee@example.com"])
    assert report["file"] == str(infra_copy / "teams" / "vision.yaml")
    added = {(c["type"], c["name"]) for c in report["changes"] if c["op"] == "+"}
    assert ("kubernetes:core/v1:ResourceQuota", "team-vision") in added
    assert ("aws:iam/role:Role", "team-vision") in added
    assert all(c["op"] == "+" and c["name"].startswith("team-vision") for c in report["changes"])

    again = _ferry(
        "team",
        "add",
        "vision",
        "-m",
        "kim@example.com",
        "--cpu",
        "8",
        "--memory-gib",
        "32",
        "--infra-dir",
        str(infra_copy),
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def test_team_add_refuses_bad_input_naming_it(infra_copy: Path) -> None:
    done = _ferry(
        "team",
        "add",
        "Vision!",
        "-m",
        "kim",
        "--cpu",
        "-1",
        "--memory-gib",
        "32",
        "--infra-dir",
        str(infra_copy),
        "--dry-run",
    )
    assert done.returncode == 2
    for text in ("name:", "'Vision!'", "members:", "['kim']", "cpu:", "-1"):
        assert text in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in (infra_copy / "teams").iterdir()) == sorted(
        p.name for p in (INFRA / "teams").iterdir()
    )


def test_preview_runs_the_policies_on_the_stack() -> None:
    done = _ferry("preview", "--stack", "prod", "-o", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["violations"] == []
    assert report["outputs"]["databaseUrl"] == "[secret]"
    assert sum(r["type"] == "aws:eks/nodeGroup:NodeGroup" for r in report["resources"]) == 2
    missing = _ferry("preview", "--stack", "staging")
    assert missing.returncode == 2 and "Pulumi.staging.yaml" in missing.stderr


def test_settings_refuses_masked_outputs(tmp_path: Path) -> None:
    outputs = {"databaseUrl": "[secret]", "region": "eu-west-1"}
    done = _ferry("settings", "--outputs", "-", stdin=json.dumps(outputs))
    assert done.returncode == 2
    assert "--show-secrets" in done.stderr and "Traceback" not in done.stderr


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += _keys(ann, f"{prefix}{alias}.")
        elif alias not in ("stack", "region"):
            keys.append(prefix + alias)
    return keys


def test_every_stack_config_key_is_documented() -> None:
    doc = (INFRA.parent / "docs" / "infrastructure.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `ferry:") or line.startswith("| `aws:")]
    table = " ".join(rows)
    missing = []
    for key in _keys(StackConfig):
        head, _, leaf = key.rpartition(".")
        if f"`ferry:{key}`" not in table and not (head and f"`ferry:{head}." in table and leaf in table):
            missing.append(key)
    assert missing == []
