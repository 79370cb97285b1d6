"""Several real control-plane processes (`python -m ferry_server`) on one PostgreSQL
database and the test run's Ray (FERRY_RAY_ADDRESS): they deploy side by side, one starting
or restarting never disturbs another's running job, and the job of a process killed mid-way
is finished explicitly by a live one once its lease has expired, its lock freed and what it
had started on Serve removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from _services import free_port, postgres_available, postgres_database
from conftest import TEST_PORTS

import ferry

pytestmark = [pytest.mark.ray, pytest.mark.postgres,
              pytest.mark.skipif(not postgres_available(),
                                 reason="PostgreSQL on 127.0.0.1:5432 is not running")]

LEASE_S = 4  # a dead process's job is finished within ~1.5 leases
C = {"mp-one": 0.2, "mp-two": 0.3, "mp-stuck": 0.4}  # each model's regularisation


class ControlPlane:
    """One `python -m ferry_server` process with its own home and port."""

    def __init__(self, name: str, root: Path, env: dict[str, str], **extra: str) -> None:
        self.name, self.port = name, free_port()
        self.home = root / name
        self.home.mkdir(exist_ok=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, **extra, "FERRY_HOME": str(self.home), "FERRY_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 240) -> float:
        """Start it; seconds until it answered."""
        t0 = time.monotonic()
        log = (self.home / "control-plane.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "ferry_server"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        while time.monotonic() - t0 < timeout_s:
            assert self.proc.poll() is None, self.tail()
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.name} did not answer within {timeout_s}s:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def client(self, token: str) -> ferry.Client:
        return ferry.Client(self.url, token=token)

    def tail(self) -> str:
        text = (self.home / "control-plane.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-40:])


@pytest.fixture(scope="module")
def shared(tmp_path_factory, settings, ray_head, running_platform) -> Iterator[SimpleNamespace]:  # type: ignore[no-untyped-def]
    """Process B (running throughout), the environment every process shares, the models."""
    root = tmp_path_factory.mktemp("processes")
    with postgres_database() as state_db, postgres_database() as mlflow_db:
        env = {**os.environ, **TEST_PORTS, "FERRY_HOST": "127.0.0.1",
               "FERRY_DATABASE_URL": state_db, "FERRY_MLFLOW_TRACKING_URI": mlflow_db,
               "FERRY_MLFLOW_ARTIFACT_ROOT": str(root / "artifacts"),
               "FERRY_RELEASE_STORE_URI": str(root / "releases"),
               "FERRY_BENTOML_HOME": settings.bentoml_home, "FERRY_RAY_ADDRESS": ray_head,
               "FERRY_JOB_LEASE_S": str(LEASE_S), "FERRY_ROUTER_REPLICAS": "1",
               "FERRY_DEFAULT_REPLICAS": "1", "FERRY_DEPLOY_TIMEOUT_S": "240"}
        b = ControlPlane("b", root, env)
        b.start()
        token = (b.home / "admin-token").read_text().strip()
        admin = b.client(token)
        for name, c in C.items():
            admin.register(sklearn_pipeline(c=c), name=name, training_data=training_frame(),
                           target="churned")
        try:
            yield SimpleNamespace(root=root, env=env, b=b, token=token,
                                  serve=running_platform.runtime)
        finally:
            b.stop()


def predictions_of(client: ferry.Client, name: str) -> None:
    rows = training_frame(seed=5)[FEATURES].head(8)
    got = client.deployment(name).predict(rows)
    assert got.predictions == sklearn_pipeline(c=C[name]).predict(rows).tolist()


def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_two_processes_deploying_different_names_at_once_both_land(shared) -> None:  # type: ignore[no-untyped-def]
    c = ControlPlane("c1", shared.root, shared.env)
    c.start()
    b_api, c_api = shared.b.client(shared.token), c.client(shared.token)
    try:
        jobs = [b_api.start_deploy("mp-one", version=1), c_api.start_deploy("mp-two", version=1)]
        assert {b_api.wait(j, timeout_s=400).state.value for j in jobs} == {"succeeded"}
        predictions_of(c_api, "mp-one")  # each serves, whichever process deployed it
        predictions_of(b_api, "mp-two")
        assert set(shared.serve.names()) >= {"mp-one", "mp-two"}
    finally:
        for name in ("mp-one", "mp-two"):
            b_api.undeploy(name)
        c.stop()


def test_a_live_job_survives_another_process_restart_and_a_killed_one_ends_after_its_lease(  # type: ignore[no-untyped-def]
        shared) -> None:
    # A's releases ask for more CPUs than the Ray head has: its deploy stays at its
    # "starting" step (release app created, replicas pending) until its own timeout.
    a = ControlPlane("a", shared.root, shared.env, FERRY_REPLICA_NUM_CPUS="8",
                     FERRY_DEPLOY_TIMEOUT_S="600")
    c = ControlPlane("c2", shared.root, shared.env)
    a.start()
    c.start()
    a_api, b_api = a.client(shared.token), shared.b.client(shared.token)
    try:
        job = a_api.start_deploy("mp-stuck", version=1)
        until(lambda: a_api.job(job.id).step.startswith("starting "), 240, "A's deploy starting")
        release_apps = until(lambda: shared.serve.releases_of("mp-stuck"), 60, "A's release app")

        # 1. C restarts (recovers, reconciles) while A's job runs: nothing of A's is touched.
        c.stop()
        restart_s = c.start()
        time.sleep(LEASE_S * 1.5)  # and C's own recovery round comes
        c_api = c.client(shared.token)
        now = c_api.job(job.id)
        assert now.state.value == "running", (now.state, now.error)
        assert shared.serve.releases_of("mp-stuck") == release_apps
        with pytest.raises(ferry.Conflict, match=job.id):  # never two changes of one name
            c_api.start_deploy("mp-stuck", version=1)

        # 2. A is killed mid-deploy: its job stays A's until the lease runs out, then a
        # live process finishes it explicitly, frees its lock and removes what A started.
        a.kill()
        killed_at = time.monotonic()
        assert b_api.job(job.id).state.value == "running"
        done = until(lambda: (j := b_api.job(job.id)).state.value != "running" and j,
                     LEASE_S * 10, "the killed process's job finished")
        ended_s = time.monotonic() - killed_at
        assert done.state.value == "failed" and done.error["code"] == "interrupted", done.error
        assert "at step 'starting " in done.error["message"]
        until(lambda: not shared.serve.releases_of("mp-stuck") and
              "mp-stuck" not in shared.serve.names(), 120, "A's release app removed")
        [removal] = b_api.jobs(kind="reconcile", target="mp-stuck")
        assert b_api.wait(removal, timeout_s=120).result == {"name": "mp-stuck", "removed": True}

        # the lock is free: a deploy of that name through another process goes through
        again = c_api.start_deploy("mp-stuck", version=1)
        assert c_api.wait(again, timeout_s=400).state.value == "succeeded"
        predictions_of(b_api, "mp-stuck")
        print(f"\nC restart to ready: {restart_s:.1f}s; killed job finished after "
              f"{ended_s:.1f}s (lease {LEASE_S}s)")
    finally:
        if a.proc is not None and a.proc.poll() is None:
            a.kill()
        if "mp-stuck" in shared.serve.names():
            b_api.undeploy("mp-stuck")
        c.stop()
