"""A control-plane restart on a real Ray Serve: interrupted jobs are finished explicitly,
what the database records is what Serve runs again, and nothing unknown is left running."""

from __future__ import annotations

import time

import pytest
from _models import FEATURES, sklearn_pipeline, training_frame

pytestmark = pytest.mark.ray


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
        # The old process dies: a deploy of this name mid-rollout, Serve lost the app (as
        # after a Ray restart), and an app nobody recorded is running (a first deploy cut off).
        jobs = running_platform.job_store
        cut = jobs.create("deploy", "e2e-restart", "admin", "default",
                          {"model": "e2e-restart", "version": mv.version},
                          lock="deployment/e2e-restart")
        jobs.start(cut.id)
        jobs.progress(cut.id, f"rolling {dep.release_id} onto 1 replica(s)", 65)
        running_platform.runtime.delete("e2e-restart")
        running_platform.runtime.apply("e2e-orphan", [Route(release, 100, 1, Protocol.rest)])
        assert running_platform.runtime.routes_of("e2e-restart") == {}

        restarted = Platform.from_settings(settings)  # a new control plane, same database
        t0 = time.monotonic()
        finished = {j.id: j for j in restarted.recover()}
        assert finished[cut.id].state == "failed"
        assert finished[cut.id].error["code"] == "interrupted"
        assert "rolling" in finished[cut.id].error["message"]
        [reconcile] = restarted.job_store.find(kind="reconcile", target="e2e-restart", limit=1)
        done = restarted.jobs.wait(reconcile.id, timeout=240)
        assert done.state == "succeeded", done.error
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
        for job in running_platform.job_store.active():  # never leave a lock behind
            running_platform.job_store.finish(job.id, error={"code": "test", "status": 500,
                                                             "message": "test cleanup"})
        client.undeploy("e2e-restart")
        if "e2e-orphan" in running_platform.runtime.names():
            running_platform.runtime.delete("e2e-orphan")
