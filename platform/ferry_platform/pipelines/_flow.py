"""The run itself, in an isolated process (the sandbox's child, no platform credential):
import the team's module, make its ``@pipeline`` a Prefect flow and each ``@step`` call a
Prefect task (on Ray when the platform gives an address), run it, answer in JSON.

The payload carries what the run may use: the Prefect API to report to, the control
plane's URL and a token scoped to this run (``FERRY_URL``/``FERRY_TOKEN``: the SDK inside
the steps talks back with them), the pipeline's module and keyword arguments.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("ferry.pipelines")


def _describe(e: BaseException) -> str:
    """``TypeName: last line`` of the error (of its cause, for Ray's task errors), never a
    traceback nor a separator line."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException) and cause is not e:
        return _describe(cause)
    text = [ln for ln in str(e).strip().splitlines() if ln.strip().strip("=-") != ""]
    return (f"{type(e).__name__}: {text[-1].strip()}" if text else type(e).__name__)[:1000]


def table_digest(value: Any) -> tuple[str, int] | None:
    """A table's content digest and row count (pandas frames, and frames wrapped as
    ``.frame``, e.g. the SDK's TrainingSet); None for anything else."""
    frame = getattr(value, "frame", value)
    if type(frame).__name__ != "DataFrame" or not hasattr(frame, "columns"):
        return None
    import pandas as pd

    h = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return f"sha256:{h.hexdigest()[:32]}", len(frame)


def code_version(module: Any, path: str | None) -> str:
    """``git:<commit>`` of the module's checkout (``+dirty`` if changed), else the digest
    of its source file."""
    source = Path(getattr(module, "__file__", "") or "")
    where = Path(path) if path else source.parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return f"git:{commit.stdout.strip()}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        pass
    if source.is_file():
        return "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()[:32]
    return "unknown"


def _plain(value: Any) -> Any:
    """What a pipeline returned, as JSON values (others as their repr)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain(item())
        except (TypeError, ValueError):
            pass
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump(mode="json"))
    return repr(value)[:300]


class StepFailed(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"step {step!r} failed: {error}")
        self.step = step
        self.error = error


def _environment(payload: dict[str, Any]) -> None:
    """Before Prefect or the team's code is imported: where to report, how to talk back."""
    home = Path(os.environ.get("HOME", "."))
    os.environ.update({
        "PREFECT_API_URL": payload["prefect_api_url"],
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
    })
    if payload.get("ferry_url"):
        os.environ["FERRY_URL"] = payload["ferry_url"]
    if payload.get("ferry_token"):
        os.environ["FERRY_TOKEN"] = payload["ferry_token"]
    if payload.get("path"):
        sys.path.insert(0, payload["path"])
    # the run's own site: what `-I` left out but the team's repository may need
    for extra in payload.get("sys_path", []):
        if extra not in sys.path:
            sys.path.append(extra)


def _task_runner(payload: dict[str, Any]) -> Any:
    address = payload.get("ray_address")
    if address:
        from prefect_ray import RayTaskRunner

        # a driver of an existing cluster: no head options; the workers import the team's
        # repository from the same path (shared by the cluster's nodes)
        env = {"RAY_AUTH_MODE": "disabled"}
        if payload.get("path"):
            env["PYTHONPATH"] = str(payload["path"])
        return RayTaskRunner(address=address, init_kwargs={
            "log_to_driver": False, "runtime_env": {"env_vars": env}})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=int(payload.get("max_workers", 4)))


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """The sandbox target: the run's outcome (never raises for the team's errors)."""
    started = time.monotonic()
    _environment(payload)
    steps: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {"state": "failed", "steps": steps, "error": None,
                               "failed_step": None, "result": None, "code_version": None,
                               "data_digest": None, "flow_run_id": None}
    module_name, _, attr = str(payload["module"]).partition(":")
    try:
        module = importlib.import_module(module_name)
        target = getattr(module, attr)
    except Exception as e:  # noqa: BLE001 - the team's module is reported, not raised
        outcome["error"] = f"cannot import {payload['module']}: {_describe(e)}"
        return outcome
    outcome["code_version"] = code_version(module, payload.get("path"))
    from ferry_contract import STEP_EXECUTOR, Pipeline, Step

    if not isinstance(target, Pipeline):
        outcome["error"] = (f"{payload['module']} is a {type(target).__name__}, not a "
                            "@pipeline function (decorate it with ferry.pipeline)")
        return outcome

    from prefect import flow, task

    make_task: Any = task  # typed overloads that a built function does not meet
    make_flow: Any = flow
    from prefect.context import get_run_context

    def execute(s: Step[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        record: dict[str, Any] = {"name": s.name, "state": "running", "attempts": 0,
                                  "duration_s": 0.0, "error": None, "data_digest": None,
                                  "rows": None}
        steps.append(record)

        def attempt(*a: Any, **k: Any) -> Any:
            record["attempts"] += 1
            token = STEP_EXECUTOR.set(None)  # a step calling a step runs it inline
            try:
                return s.fn(*a, **k)
            finally:
                STEP_EXECUTOR.reset(token)

        t0 = time.monotonic()
        prefect_task = make_task(attempt, name=s.name, retries=s.retries,
                            retry_delay_seconds=s.retry_delay_s, persist_result=False,
                            cache_policy=None)
        try:
            value = prefect_task.submit(*args, **kwargs).result()
        except BaseException as e:
            record.update(state="failed", error=_describe(e),
                          duration_s=round(time.monotonic() - t0, 3),
                          attempts=max(record["attempts"], 1))
            raise StepFailed(s.name, _describe(e)) from e
        record.update(state="succeeded", duration_s=round(time.monotonic() - t0, 3),
                      attempts=max(record["attempts"], 1))
        digest = table_digest(value)
        if digest is not None:
            record["data_digest"], record["rows"] = digest
            if outcome["data_digest"] is None:  # the first table: the training set
                outcome["data_digest"] = digest[0]
        return value

    def body(**params: Any) -> Any:
        try:
            outcome["flow_run_id"] = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - an id for the record only
            pass
        token = STEP_EXECUTOR.set(execute)
        try:
            return target.fn(**params)
        finally:
            STEP_EXECUTOR.reset(token)

    prefect_flow = make_flow(body, name=target.name, flow_run_name=payload.get("run_id"),
                        task_runner=_task_runner(payload), persist_result=False,
                        validate_parameters=False, log_prints=False)
    try:
        result = prefect_flow(**payload.get("params", {}))
    except StepFailed as e:
        outcome.update(error=str(e), failed_step=e.step)
    except BaseException as e:  # noqa: BLE001 - the pipeline body itself raised
        outcome["error"] = f"the pipeline raised outside any step: {_describe(e)}"
    else:
        outcome.update(state="succeeded", result=_plain(result))
    outcome["duration_s"] = round(time.monotonic() - started, 3)
    return outcome
