from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ferry_contract import PlatformUnavailable
from ferry_platform.sandbox._interface import SandboxCrashed, SandboxTimeout, unwrap
from ferry_platform.sandbox._launch import run_isolated, scrub_environ

STARTUP_S = 120.0
"""Time allowed beyond a run's own limit for a Ray worker to start and answer."""


def _sandboxed(target: str, payload: Any, timeout_s: float, memory_mb: int) -> dict[str, Any]:
    """The Ray task. The worker never runs the untrusted code itself (Ray unpickles what a
    worker returns, so a worker the model had run in could hand the control plane a
    pickle): it starts the isolated process, reads its JSON and returns plain values."""
    scrub_environ()  # a worker inherits the head's environment until the head is scrubbed
    return run_isolated(target, payload, timeout_s=timeout_s, memory_mb=memory_mb)


_TASK: Any = None
_TASK_LOCK = threading.Lock()


def _task() -> Any:
    global _TASK
    with _TASK_LOCK:
        if _TASK is None:
            import ray

            # One call per worker process (it exits after), never retried.
            _TASK = ray.remote(num_cpus=0, max_calls=1, max_retries=0)(_sandboxed)
        return _TASK


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1]}"[:300] if text else type(cause).__name__


class RaySandbox:
    """:class:`Sandbox` on a Ray worker: a task of its own (``max_calls=1``, no retries)
    starts the isolated process there, so model code runs on the cluster's workers, never
    on the control plane's machine or in its process. ``runtime_env`` is given to the
    task's worker (e.g. a container image on a cluster); the isolated process still gets
    only its allowlisted environment."""

    def __init__(self, runtime_env: Mapping[str, Any] | None = None,
                 startup_s: float = STARTUP_S) -> None:
        self._runtime_env = dict(runtime_env) if runtime_env else None
        self._startup_s = startup_s

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any:
        import ray

        if not ray.is_initialized():
            raise PlatformUnavailable(
                "models are evaluated on Ray, which this control plane is not connected to; "
                "start the platform's runtime (or set FERRY_EVALUATION_SANDBOX=process on a "
                "local platform)")
        task = _task()
        if self._runtime_env:
            task = task.options(runtime_env=self._runtime_env)
        ref = task.remote(target, payload, float(timeout_s), int(memory_mb))
        try:
            envelope = ray.get(ref, timeout=timeout_s + self._startup_s)
        except ray.exceptions.GetTimeoutError as e:
            ray.cancel(ref, force=True)
            raise SandboxTimeout(f"no answer from its Ray worker within "
                                 f"{timeout_s + self._startup_s:g}s; stopped") from e
        except ray.exceptions.RayError as e:
            raise SandboxCrashed(f"its Ray worker was lost: {_cause(e)}") from e
        return unwrap(envelope)
