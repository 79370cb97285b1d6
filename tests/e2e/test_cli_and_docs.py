"""The interactive path: `ferry up`, the getting-started guide's Python run as written, the
CLI's listings and predictions, `ferry down` leaving no process behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _proc import session_members
from _services import free_port

ROOT = Path(__file__).resolve().parents[2]
FERRY = str(Path(sys.executable).with_name("ferry"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    port = free_port()
    return {**os.environ, "FERRY_HOME": str(tmp_path_factory.mktemp("cli-home")),
            "FERRY_URL": f"http://127.0.0.1:{port}",
            "FERRY_SERVE_HTTP_PORT": str(free_port()), "FERRY_SERVE_GRPC_PORT": str(free_port()),
            "FERRY_SERVE_HAPROXY_STATS_PORT": str(free_port())}


def ferry(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([FERRY, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def test_help_teaches() -> None:
    out = ferry(os.environ.copy(), "--help").stdout
    for word in ("up", "down", "deploy", "status", "predict", "undeploy", "models", "ferry up"):
        assert word in out
    assert "--version" in ferry(os.environ.copy(), "deploy", "--help").stdout


def test_commands_without_a_platform_say_how_to_start_one(env: dict[str, str]) -> None:
    proc = ferry(env, "status", check=False)
    assert proc.returncode == 1
    assert "ferry up" in proc.stderr and "Traceback" not in proc.stderr


def python_blocks(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)


@pytest.mark.ray
def test_up_guide_cli_down(env: dict[str, str]) -> None:
    assert "Logged in as the local admin" in ferry(env, "up").stdout
    pid = int(Path(env["FERRY_HOME"], "control-plane.pid").read_text())
    try:
        # the getting-started guide, as written, against this platform
        saved = dict(os.environ)
        os.environ.update({k: env[k] for k in ("FERRY_URL", "FERRY_HOME")})
        try:
            namespace: dict[str, object] = {}
            for block in python_blocks(ROOT / "docs" / "getting-started.md"):
                exec(compile(block, "getting-started.md", "exec"), namespace)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert namespace["result"].release_id == namespace["dep"].release_id  # type: ignore[attr-defined]

        models = json.loads(ferry(env, "models", "list", "-o", "json").stdout)
        assert [m["name"] for m in models] == ["churn"]
        status = json.loads(ferry(env, "status", "churn", "-o", "json").stdout)
        assert status["status"] == "running" and status["replicas"] == 2
        pred = json.loads(ferry(env, "predict", "churn",
                                '{"tenure_months": 3, "monthly_charges": 70.5}', "-o", "json").stdout)
        assert pred["release_id"] == status["release"]["release_id"] and len(pred["predictions"]) == 1
        bad = ferry(env, "predict", "churn", '{"tenure_months": "x"}', check=False)
        assert bad.returncode == 2 and "monthly_charges" in bad.stderr
        missing = ferry(env, "deploy", "churn", "--version", "7", check=False)
        assert missing.returncode == 2 and "no version 7" in missing.stderr

        # who, which jobs, what the audit log says
        assert json.loads(ferry(env, "whoami", "-o", "json").stdout)["user"] == "admin"
        [job] = json.loads(ferry(env, "jobs", "--kind", "deploy", "-o", "json").stdout)
        assert job["state"] == "succeeded" and job["target"] == "churn"
        shown = ferry(env, "jobs", "show", job["id"]).stdout
        assert "is serving" in shown
        events = json.loads(ferry(env, "audit", "--resource", "deployment/churn",
                                  "-o", "json").stdout)
        assert any(e["action"] == "deploy" and e["outcome"] == "succeeded" and
                   e["details"]["to_release"] == status["release"]["release_id"] for e in events)

        # a restart of the platform (Ray included) serves the same deployment again
        ferry(env, "down")
        ferry(env, "up")
        pid = int(Path(env["FERRY_HOME"], "control-plane.pid").read_text())
        deadline = time.monotonic() + 240
        while True:
            again = json.loads(ferry(env, "status", "churn", "-o", "json").stdout)
            if again["status"] == "running" or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert again["status"] == "running"
        assert again["release"]["release_id"] == status["release"]["release_id"]
        pred = json.loads(ferry(env, "predict", "churn",
                                '{"tenure_months": 3, "monthly_charges": 70.5}', "-o", "json").stdout)
        assert pred["release_id"] == status["release"]["release_id"]
        reconciled = json.loads(ferry(env, "jobs", "--kind", "reconcile", "-o", "json").stdout)
        assert reconciled and reconciled[0]["state"] in ("running", "succeeded")
        ferry(env, "undeploy", "churn")
    finally:
        ferry(env, "down")
    deadline = time.monotonic() + 30
    while session_members(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert session_members(pid) == []  # control plane, Ray, Serve, HAProxy all gone
    assert "not running" in ferry(env, "down").stdout
