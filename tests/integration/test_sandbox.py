"""One behavioural suite for every :class:`Sandbox`: the two real ones (a child process;
a Ray task that starts one, on the session's Ray) and the in-process fake the control-plane
tests use, for what the fake promises (answers and the target's errors). Secrets are put
where the untrusted code's process would inherit them (the launcher's environment; for Ray,
the worker's, as an unscrubbed Ray head would pass it on)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from _fakes import InlineSandbox
from _proc import sandbox_children

from ferry_platform.sandbox import (
    ProcessSandbox,
    RaySandbox,
    SandboxOutOfMemory,
    SandboxTimeout,
    TargetFailed,
    secret_looking,
)

PROBE = "ferry_platform.sandbox._probe:describe"
SECRETS = {
    "FERRY_DATABASE_URL": "postgresql://ferry:db-secret-5f1e@db.internal/ferry",
    "FERRY_MLFLOW_TRACKING_URI": "postgresql://mlflow:mlflow-secret-77aa@db.internal/mlflow",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-c0ffee",
    "FERRY_FEATURE_REDIS": "redis.internal:6379,password=redis-secret-9b2d",
    "SOME_SERVICE_TOKEN": "token-secret-4242",
}


@pytest.fixture(params=["inline", "process", pytest.param("ray", marks=pytest.mark.ray)])
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("running_platform")  # the session's Ray
    return str(request.param)


@pytest.fixture()
def sandbox(kind: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    if kind == "inline":
        return InlineSandbox()
    if kind == "process":
        return ProcessSandbox()
    return RaySandbox(runtime_env={"env_vars": SECRETS})



def _alive(needle: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().replace(b"\0", b" ").strip() == needle.encode():
                return True
        except OSError:
            continue
    return False


def test_answers_come_back_as_plain_json(sandbox) -> None:  # type: ignore[no-untyped-def]
    got = sandbox.run("json:loads", '{"a": [1, 2.5, "x", null, true]}', timeout_s=120,
                      memory_mb=512)
    assert got == {"a": [1, 2.5, "x", None, True]}


def test_what_the_target_raises_is_reported_by_type_and_text(sandbox) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TargetFailed, match=r"^JSONDecodeError: Expecting value"):
        sandbox.run("json:loads", "not json", timeout_s=120, memory_mb=512)
    with pytest.raises(TargetFailed, match="not plain JSON"):
        sandbox.run("builtins:set", [1, 2], timeout_s=120, memory_mb=512)


def test_the_untrusted_process_sees_no_secret_and_is_not_the_caller(sandbox, kind) -> None:  # type: ignore[no-untyped-def]
    if kind == "inline":
        pytest.skip("the in-process fake isolates nothing (it is for tests' own models)")
    seen = sandbox.run(PROBE, None, timeout_s=120, memory_mb=512)
    assert seen["pid"] != os.getpid()
    if kind == "ray":
        assert seen["ppid"] != os.getpid()  # started by a Ray worker, not by us
    for value in SECRETS.values():
        assert value not in str(seen["environ"]) and value not in seen["proc_environ"]
    assert not [k for k in seen["environ"] if secret_looking(k)], seen["environ"]
    assert seen["limits"]["data"] == 512 << 20


def test_memory_beyond_the_cap_is_stopped(sandbox, kind) -> None:  # type: ignore[no-untyped-def]
    if kind == "inline":
        pytest.skip("the in-process fake enforces no limit")
    with pytest.raises(SandboxOutOfMemory):
        sandbox.run("builtins:bytearray", 3 << 30, timeout_s=120, memory_mb=512)
    with pytest.raises(SandboxOutOfMemory):  # numpy: its allocation is refused
        sandbox.run("numpy:ones", [40_000, 10_000], timeout_s=120, memory_mb=512)


def test_a_run_past_its_time_is_stopped_with_what_it_started(sandbox, kind) -> None:  # type: ignore[no-untyped-def]
    if kind == "inline":
        pytest.skip("the in-process fake enforces no limit")
    t0 = time.monotonic()
    with pytest.raises(SandboxTimeout):
        sandbox.run("time:sleep", 600, timeout_s=5, memory_mb=512)
    assert time.monotonic() - t0 < 5 + 60
    # A target that starts a process of its own and returns: the process goes with it.
    with pytest.raises(TargetFailed, match="not plain JSON"):
        sandbox.run("subprocess:Popen", ["sleep", "313"], timeout_s=120, memory_mb=512)
    deadline = time.monotonic() + 10
    while (_alive("sleep 313") or sandbox_children()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive("sleep 313") and not sandbox_children()
