"""Serve's declarative config is one document that every control-plane process edits by
read-modify-write. Two processes on one PostgreSQL database, each adding applications at
the same time, must never lose one another's: the runtime holds the database's advisory
lock around each read-modify-write.

Serve's controller is stood in for by a file that answers the two calls the runtime makes
(``get_serve_details`` and ``deploy_apps``, with a delay between read and write so that
unserialized changes do interleave); the lock and the runtime's read-modify-write are the
real ones."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _services import postgres_available, postgres_database

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not postgres_available(),
                                 reason="PostgreSQL on 127.0.0.1:5432 is not running")]

ADDER = """
import json, sys, time
from pathlib import Path

import ray.serve.schema  # noqa: F401 - imported before the start line, as a running process has

from ferry_platform import Settings
from ferry_platform.serving import RayServeRuntime
from ferry_platform.store import Database

url, state, who, locked = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"


class FileController:
    # What the runtime asks of Serve's controller client, kept in a file.
    def get_serve_details(self):
        apps = json.loads(state.read_text())
        time.sleep(0.05)  # the read and the write of a real change are apart too
        return {"applications": {a["name"]: {"deployed_app_config": a} for a in apps}}

    def deploy_apps(self, config):  # atomically, as the controller's store is
        tmp = state.with_suffix(f".{who}")
        tmp.write_text(json.dumps([a.model_dump(exclude_unset=True)
                                   for a in config.applications]))
        tmp.replace(state)


class Runtime(RayServeRuntime):
    def _client(self):
        return FileController()

    def _running(self):  # Serve is the file above, not a Ray this process is connected to
        return True


db = Database(url)
lock = (lambda: db.exclusive("serve-config")) if locked else None
runtime = Runtime(Settings(home=state.parent / who, ray_address="unused:1").serving_config(),
                  config_lock=lock)
(state.parent / f"ready-{who}").touch()
go = state.parent / "go"
while not go.exists():
    time.sleep(0.01)
for i in range(10):
    app = {"name": f"{who}-{i}", "route_prefix": None, "import_path": "x:y"}
    runtime._change(lambda configs: configs.update({app["name"]: app}))
"""


def start_adders(tmp: Path, url: str, locked: bool) -> list[subprocess.Popen[str]]:
    tmp.mkdir()
    (tmp / "serve.json").write_text("[]")
    script = tmp / "adder.py"
    script.write_text(ADDER)
    return [subprocess.Popen([sys.executable, str(script), url, str(tmp / "serve.json"), who,
                              "1" if locked else "0"], stderr=subprocess.PIPE, text=True)
            for who in ("a", "b")]


def test_two_processes_never_lose_each_others_serve_config_changes(tmp_path: Path) -> None:
    with postgres_database() as url:
        url = url.replace("postgresql://", "postgresql+psycopg://")
        from ferry_platform.store import Database

        Database(url).upgrade()
        # the same race with only a lock per process, to show that the check can fail
        runs = {locked: (tmp_path / str(locked), start_adders(tmp_path / str(locked), url,
                                                               locked))
                for locked in (True, False)}
        deadline = time.monotonic() + 180
        while not all((d / f"ready-{who}").exists() for d, _ in runs.values() for who in "ab"):
            assert time.monotonic() < deadline
            assert all(p.poll() is None for _, ps in runs.values() for p in ps)
            time.sleep(0.05)
        for d, _ in runs.values():
            (d / "go").touch()  # both processes of a pair start changing at once
        got = {}
        for locked, (d, procs) in runs.items():
            for p in procs:
                _, err = p.communicate(timeout=300)
                assert p.returncode == 0, err[-3000:]
            got[locked] = {a["name"] for a in json.loads((d / "serve.json").read_text())}
        assert got[True] == {f"{who}-{i}" for who in "ab" for i in range(10)}
        assert len(got[False]) < 20
