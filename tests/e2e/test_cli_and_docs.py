"""The interactive path: `ferry up`, the getting-started guide's Python run as written, the
CLI's listings and predictions, `ferry down` leaving no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _proc import session_members
from _services import free_port

import ferry as ferry_sdk

ROOT = Path(__file__).resolve().parents[2]
FERRY = str(Path(sys.executable).with_name("ferry"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    port = free_port()
    return {**os.environ, "FERRY_HOME": str(tmp_path_factory.mktemp("cli-home")),
            "FERRY_URL": f"http://127.0.0.1:{port}",
            "FERRY_SERVE_HTTP_PORT": str(free_port()), "FERRY_SERVE_GRPC_PORT": str(free_port()),
            "FERRY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
            "FERRY_SERVE_HAPROXY_METRICS_PORT": str(free_port())}


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


def gone(*sessions: int, timeout_s: float = 30) -> bool:
    """Whether every process of these sessions has exited (waiting up to ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while any(session_members(s) for s in sessions) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not any(session_members(s) for s in sessions)


def python_blocks(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)


GUIDE = ROOT / "docs" / "getting-started.md"
STARTS_RAY = ("ferry up", "curl ", "ferry undeploy", "ferry down", "ferry status",
              "ferry models show")
"""The guide's shell commands that need a running platform (run by the Ray test below)."""


def shell_commands(doc: Path) -> list[str]:
    """Every command of the guide's ```bash blocks, in order (comments dropped; a line
    ending in a backslash continues)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"(^|\s)#.*$", "", line).strip()
            if command:
                commands.append(command)
    return commands


def newcomer_path() -> str:
    """PATH as a newcomer's shell has it: no uv, and not this run's virtualenv."""
    venv = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if p and p != venv and not Path(p, "uv").exists())


def guide_shell(commands: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``commands`` run as the guide shows them, in one bash at the checkout's root with a
    newcomer's PATH; stops at the first failure."""
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    env = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV", "UV")}
    return subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env={**env, "PATH": newcomer_path()})


def test_the_guide_s_install_commands_work_as_written() -> None:
    """From `make install` to a `ferry` on PATH, with no uv on PATH (make installs its own
    under .tools/bin when it is missing): the steps of the guide that need no platform."""
    commands = shell_commands(GUIDE)
    setup = commands[:next(i for i, c in enumerate(commands) if c.startswith(STARTS_RAY))]
    assert setup[0] == "make install" and any("activate" in c for c in setup), setup
    rest = [c for c in commands[len(setup):] if not c.startswith((*STARTS_RAY, "TOKEN="))]
    assert rest == [], f"the guide has new commands {rest}: run them in a test here"
    proc = guide_shell([*setup, "command -v ferry", "command -v python", "ferry --help"],
                       dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    venv_bin = ROOT / ".venv" / "bin"
    assert str(venv_bin / "ferry") in lines and str(venv_bin / "python") in lines, proc.stdout
    assert "ferry up" in proc.stdout  # --help teaches the next step


@pytest.mark.ray
def test_up_guide_cli_down(env: dict[str, str]) -> None:
    commands = shell_commands(GUIDE)
    activate = next(c for c in commands if "activate" in c)
    t0 = time.monotonic()
    started = guide_shell([activate, "ferry up"], env)  # the guide's commands, as written
    assert started.returncode == 0, started.stdout + started.stderr
    up = started.stdout
    assert "Logged in as the local admin" in up
    assert "Portal: http://" in up and "/portal" in up  # the address of the web portal
    print(f"\ncold `ferry up` (starts Ray): {time.monotonic() - t0:.1f}s")
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
        release_id = namespace["dep"].release_id  # type: ignore[attr-defined]

        # the guide's curl commands, on this platform's port and home (never 8000, ~/.ferry)
        port = str(env["FERRY_SERVE_HTTP_PORT"])
        curls = [c.replace("localhost:8000", f"127.0.0.1:{port}")
                 .replace("~/.ferry", env["FERRY_HOME"])
                 for c in commands if c.startswith(("TOKEN=", "curl "))]
        answered = guide_shell([activate, *curls], env)
        assert answered.returncode == 0, answered.stdout + answered.stderr
        first = json.loads(answered.stdout[:answered.stdout.index("}") + 1])
        assert first["release_id"] == release_id and first["predictions"] in ([0], [1])
        # the guide's look-around commands: in a pipe, every id and digest whole on its row
        looked = guide_shell([activate, *(c for c in commands
                                          if c.startswith(("ferry status", "ferry models show")))],
                             env)
        assert looked.returncode == 0, looked.stdout + looked.stderr
        digest = namespace["mv"].model_digest  # type: ignore[attr-defined]
        assert "…" not in looked.stdout
        assert any(release_id in row and "running" in row for row in looked.stdout.splitlines())
        assert any(digest in row for row in looked.stdout.splitlines()), looked.stdout

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

        # kill -9 of the control plane: Ray is a process of its own, so predictions keep
        # being answered while the control plane is down and while `ferry up` attaches again
        head = json.loads(Path(env["FERRY_HOME"], "ray", "head.json").read_text())
        token = Path(env["FERRY_HOME"], "admin-token").read_text().strip()
        served = ferry_sdk.Client(env["FERRY_URL"], token=token).deployment("churn")
        answers, stop = [], threading.Event()

        def probe() -> None:
            while not stop.is_set():
                try:
                    answers.append(served.predict({"tenure_months": 3,
                                                   "monthly_charges": 70.5}).release_id)
                except Exception as e:  # noqa: BLE001 - counted as a failure below
                    answers.append(repr(e))
                time.sleep(0.05)

        def tried(count: int, timeout_s: float = 120) -> None:
            """Until ``count`` more predictions were tried (instead of a fixed sleep)."""
            start, deadline = len(answers), time.monotonic() + timeout_s
            while len(answers) < start + count and time.monotonic() < deadline:
                time.sleep(0.05)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            tried(10)
            os.kill(pid, signal.SIGKILL)
            while session_members(pid):
                time.sleep(0.1)
            down_at = len(answers)
            tried(30)  # down for a while
            up_at, t0 = len(answers), time.monotonic()
            ferry(env, "up")
            restart_s = time.monotonic() - t0
            tried(10)
        finally:
            stop.set()
            prober.join(30)
        assert answers[down_at:up_at], "no prediction was tried while the control plane was down"
        assert set(answers) == {status["release"]["release_id"]}, set(answers) - {
            status["release"]["release_id"]}
        assert json.loads(Path(env["FERRY_HOME"], "ray", "head.json").read_text()) == head
        print(f"\nkill -9 and `ferry up` with Ray up: {len(answers)} predictions, none "
              f"failed; ferry up took {restart_s:.1f}s")
        pid = int(Path(env["FERRY_HOME"], "control-plane.pid").read_text())

        # `ferry down` stops the control plane and its Ray; after `ferry up` (a new Ray)
        # the same deployment serves again
        ferry(env, "down")
        assert gone(pid, head["session"])
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
        undeployed = guide_shell([activate, "ferry undeploy churn"], env)
        assert undeployed.returncode == 0, undeployed.stdout + undeployed.stderr
    finally:
        head_file = Path(env["FERRY_HOME"], "ray", "head.json")
        head = json.loads(head_file.read_text()) if head_file.exists() else {"session": -1}
        ferry(env, "down")
    assert gone(pid, head["session"])  # control plane; Ray, Serve, replicas, HAProxy
    assert "not running" in ferry(env, "down").stdout
