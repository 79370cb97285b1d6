"""A control-plane restart on a real Ray Serve: interrupted jobs are finished explicitly,
what the database records is what Serve runs again, and nothing unknown is left running."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _models import FEATURES, sklearn_pipeline, training_frame

pytestmark = pytest.mark.ray


def finished(store: Any, job_id: str, timeout: float = 240) -> Any:
    """The job once it ended, whichever control-plane process ran it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job.state in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job.state} after {timeout}s")


def reconcile_of(store: Any, name: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = store.find(kind="reconcile", target=name, limit=1)
        if found:
            return finished(store, found[0].id)
        time.sleep(0.2)
    raise AssertionError(f"no reconcile job for {name} within {timeout}s")


def test_restart_finishes_interrupted_jobs_and_reconciles_serve(  # type: ignore[no-untyped-def]
        client, running_platform, settings) -> None:
    from ferry_contract import Protocol
    from ferry_platform import Platform
    from ferry_platform.serving import Route

    mv = client.register(sklearn_pipeline(c=0.3), name="e2e-restart",
                         training_data=training_frame(), target="churned")
    dep = client.deploy("e2e-restart", version=mv.version, replicas=1)
    release = running_platform.store.get_release(dep.release_id)
    try:
        # The old process died: Serve lost the app (as after a Ray restart), an app nobody
        # recorded is running (a first deploy cut off), and a deploy of this name was
        # mid-rollout (its lease run out). The job comes last: from then on any live
        # process may recover it and reconcile (the session's platform does every 15 s).
        running_platform.runtime.delete("e2e-restart")
        running_platform.runtime.apply("e2e-orphan", [Route(release, 100, 1, Protocol.rest)])
        assert running_platform.runtime.routes_of("e2e-restart") == {}
        jobs = running_platform.job_store
        cut = jobs.create("deploy", "e2e-restart", "admin", "default",
                          {"model": "e2e-restart", "version": mv.version},
                          lock="deployment/e2e-restart", owner="gone:1:dead", lease_s=0)
        jobs.start(cut.id)
        jobs.progress(cut.id, f"rolling {dep.release_id} onto 1 replica(s)", 65)

        restarted = Platform.from_settings(settings)  # a new control plane, same database
        t0 = time.monotonic()
        restarted.recover(reconcile=True)
        # this process or the running one (it recovers expired leases too) finishes it
        job = finished(restarted.job_store, cut.id)
        assert job.state == "failed" and job.error["code"] == "interrupted"
        assert "rolling" in job.error["message"]
        assert job.error["details"]["owner"] == "gone:1:dead"
        reconcile = reconcile_of(restarted.job_store, "e2e-restart")
        assert reconcile.state == "succeeded", reconcile.error
        removed = reconcile_of(restarted.job_store, "e2e-orphan")
        assert removed.state == "succeeded" and removed.result["removed"] is True
        took = time.monotonic() - t0

        assert restarted.runtime.routes_of("e2e-restart") == {dep.release_id: 100}
        assert "e2e-orphan" not in restarted.runtime.names()
        rows = training_frame(seed=5)[FEATURES].head(10)
        got = client.deployment("e2e-restart").predict(rows)
        assert got.release_id == dep.release_id
        assert got.predictions == sklearn_pipeline(c=0.3).predict(rows).tolist()
        logs = [line for _, _, line in restarted.job_store.logs(reconcile.id)]
        assert logs[-1] == f"e2e-restart is serving {dep.release_id} again", (logs, took)
    finally:
        if "restarted" in locals():
            restarted.jobs.shutdown(wait=True)
        for active in running_platform.job_store.active():  # never leave a lock behind
            running_platform.job_store.finish(active.id, error={
                "code": "test", "status": 500, "message": "test cleanup"})
        client.undeploy("e2e-restart")
        if "e2e-orphan" in running_platform.runtime.names():
            running_platform.runtime.delete("e2e-orphan")
