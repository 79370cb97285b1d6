"""Model code never runs in the control plane, through the API: registered models that spy
on their process, hog memory, sleep or fail to load are evaluated in their sandbox (a Ray
task on the session's Ray — the platform's default — and the local child process), and
each hostile one becomes a 4xx job error naming the version and the cause while the
control plane carries on.

The control plane's environment holds (fake) secrets; for Ray they are also put into the
worker's environment, as a Ray head started with the control plane's environment passes
them on. The models are pyfunc models whose code is stored with them (models from code),
registered by URI as a deployer would."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import time
from pathlib import Path

import pytest
from _models import register_hooked
from _proc import sandbox_children
from _synth import signal

import ferry
from ferry_platform.evaluation import EvaluationLimits, EvaluationService
from ferry_platform.registry import MlflowEvaluationStore, MlflowRegistry
from ferry_platform.sandbox import ProcessSandbox, RaySandbox, secret_looking

SECRETS = {
    "FERRY_DATABASE_URL": "postgresql+psycopg://ferry:db-secret-81c4@db.internal/ferry",
    "FERRY_MLFLOW_TRACKING_URI": "postgresql://mlflow:mlflow-secret-a6b1@db.internal/mlflow",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-3e7d",
    "AWS_SESSION_TOKEN": "aws-session-secret-55f0",
    "FERRY_FEATURE_REDIS": "redis.internal:6379,password=redis-secret-0c9e",
}

# What each hostile model's pickle runs when it is loaded (see _models.register_hooked).
SPY = '''
import json, os
try:
    with open("/proc/self/environ", "rb") as f:
        recorded = f.read().decode("utf-8", "replace")
except OSError as e:
    recorded = "unreadable: " + str(e)
with open({record!r}, "a") as f:
    f.write(json.dumps({{"pid": os.getpid(), "ppid": os.getppid(),
                        "environ": dict(os.environ), "proc_environ": recorded}}) + "\\n")
'''
# 64 MiB at a time, each written to, up to 3 GiB: bounded, so a broken cap costs the
# machine 3 GiB for a moment rather than all of it.
HOG = '''
import numpy as np
blocks = [np.ones(8 << 20) for _ in range(48)]
'''
SLEEPER = '''
import time
time.sleep(3600)
'''
BROKEN = '''
raise RuntimeError("these weights do not fit this code")
'''


@pytest.fixture(params=["process", pytest.param("ray", marks=pytest.mark.ray)])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("running_platform")  # the session's Ray
    return str(request.param)


@pytest.fixture()
def app_for(kind: str, platform_core, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """An SDK client on the real control-plane app whose evaluations run in a ``kind``
    sandbox with the given limits (the rest of the platform is the session's)."""
    from fastapi.testclient import TestClient

    from ferry_server import create_app

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    s = platform_core.settings

    def make(timeout_s: float = 600, memory_mb: int = 2048) -> ferry.Client:
        sandbox = ProcessSandbox() if kind == "process" else \
            RaySandbox(runtime_env={"env_vars": SECRETS})
        evaluations = EvaluationService(
            MlflowEvaluationStore(MlflowRegistry(s.mlflow_tracking_uri, s.mlflow_artifact_root)),
            platform_core.registry, platform_core.features, sandbox=sandbox,
            limits=EvaluationLimits(timeout_s=timeout_s, memory_mb=memory_mb))
        variant = dataclasses.replace(platform_core, evaluation=evaluations)
        http = TestClient(create_app(platform_obj=variant, start_runtime=False),
                          base_url="http://ferry.test", raise_server_exceptions=False)
        token = (s.home / "admin-token").read_text().strip()
        return ferry.Client("http://ferry.test", http_client=http, token=token)

    return make


def _register(client: ferry.Client, name: str, code: str, tmp_path: Path) -> int:
    rows = signal(300, seed=5)
    version = register_hooked(client, name, code, tmp_path, rows).version
    client.create_eval_set(name, rows, label="y", pin=True)
    return int(version)



def test_the_model_runs_in_another_process_without_the_platforms_secrets(  # type: ignore[no-untyped-def]
        app_for, kind, platform_core, tmp_path: Path) -> None:
    client = app_for()
    record = tmp_path / "seen.jsonl"
    name = f"iso-spy-{kind}"
    version = _register(client, name, SPY.format(record=str(record)), tmp_path)
    record.unlink(missing_ok=True)  # only what the evaluation's loading writes counts
    found = client.evaluate(name, version, timeout_s=900)
    assert found.passed and found.model_digests["candidate"].startswith("sha256:")
    [seen] = [json.loads(line) for line in record.read_text().splitlines()]
    assert seen["pid"] != os.getpid()
    if kind == "ray":
        assert seen["ppid"] != os.getpid()  # started on a Ray worker, not by the control plane
    admin_token = (platform_core.settings.home / "admin-token").read_text().strip()
    secrets = [*SECRETS.values(), admin_token]
    for value in secrets:
        assert value not in json.dumps(seen["environ"]), value
        assert value not in seen["proc_environ"], value
    assert not [k for k in seen["environ"] if secret_looking(k)], sorted(seen["environ"])


def test_a_memory_hog_is_stopped_by_the_cap_and_the_control_plane_carries_on(  # type: ignore[no-untyped-def]
        app_for, kind, tmp_path: Path) -> None:
    client = app_for(memory_mb=1024)
    name = f"iso-hog-{kind}"
    version = _register(client, name, HOG, tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ferry.EvaluationFailed, match=rf"{name} v{version} \(candidate\) ran out "
                                                     "of memory.*FERRY_EVALUATION_MEMORY_MB") as exc:
        client.evaluate(name, version, timeout_s=900)
    assert exc.value.details == {"model": name, "version": version, "role": "candidate",
                                 "cause": "memory"}
    assert "Traceback" not in exc.value.message
    [job] = client.jobs(kind="evaluate", target=name, limit=1)
    assert job.state.value == "failed" and job.error["status"] == 422  # type: ignore[index]
    # The control plane: answering, and it did not take the memory itself.
    assert client.health()["status"] == "ok"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024  # KiB
    assert not sandbox_children()


def test_a_model_that_sleeps_is_stopped_by_the_time_limit(  # type: ignore[no-untyped-def]
        app_for, kind, tmp_path: Path) -> None:
    limit = 10.0  # the sleeper never answers: any limit is reached; a short one costs CI less
    client = app_for(timeout_s=limit)
    name = f"iso-sleeper-{kind}"
    version = _register(client, name, SLEEPER, tmp_path)
    t0 = time.monotonic()
    with pytest.raises(ferry.EvaluationFailed, match=rf"{name} v{version} \(candidate\) did not "
                                                     r"load and answer within 10s") as exc:
        client.evaluate(name, version, timeout_s=900)
    took = time.monotonic() - t0
    assert exc.value.details["cause"] == "timeout"
    assert took < limit + 150, took  # its own limit (plus Ray's startup allowance), not an hour
    deadline = time.monotonic() + 15
    while sandbox_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sandbox_children()  # the sleeping process is gone
    assert client.health()["status"] == "ok"


def test_a_model_that_does_not_load_is_a_4xx_naming_it(  # type: ignore[no-untyped-def]
        app_for, kind, tmp_path: Path) -> None:
    client = app_for()
    name = f"iso-broken-{kind}"
    version = _register(client, name, BROKEN, tmp_path)
    with pytest.raises(ferry.EvaluationFailed, match=rf"{name} v{version} \(candidate\) cannot "
                                                     "be loaded for evaluation: .*these weights "
                                                     "do not fit this code") as exc:
        client.evaluate(name, version, timeout_s=900)
    assert exc.value.details["cause"] == "load" and exc.value.status == 422
