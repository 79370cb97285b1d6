"""Long operations as jobs, and what a restart of the control plane does with them: the
use-case layer with fakes that implement the real runtime/registry/packager interfaces and
a real (in-memory SQLite) database."""

from __future__ import annotations

import threading

import pytest
from _fakes import FakePackager, FakeRegistry, FakeRuntime

from ferry_contract import Conflict, DeploymentCreate, Protocol, VersionNotFound
from ferry_platform import Platform, Settings
from ferry_platform.access import SYSTEM, AccessService
from ferry_platform.jobs import JobRunner
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.store import (
    Database,
    DeploymentRecord,
    SqlIdentityStore,
    SqlJobStore,
    SqlStateStore,
)


def database() -> Database:
    """A file database: jobs write from worker threads (in-memory SQLite is one connection)."""
    import tempfile

    db = Database(f"sqlite:///{tempfile.mkdtemp()}/state.db")
    db.upgrade()
    return db


def platform(runtime: FakeRuntime | None = None, db: Database | None = None) -> Platform:
    db = db or database()
    rt = runtime or FakeRuntime()
    store, jobs = SqlStateStore(db), SqlJobStore(db)
    registry = FakeRegistry({"churn": [1, 2], "fraud": [1]})
    releases = ReleaseService(registry, FakePackager(), rt, store, Defaults(replicas=2))
    access = AccessService(SqlIdentityStore(db))
    access.bootstrap()
    import tempfile

    return Platform(settings=Settings(home=tempfile.mkdtemp()), registry=registry,  # type: ignore[arg-type]
                    packager=None, runtime=rt,  # type: ignore[arg-type]
                    store=store, releases=releases, features=None, db=db,  # type: ignore[arg-type]
                    job_store=jobs, jobs=JobRunner(jobs), identity=SqlIdentityStore(db),
                    access=access)


def wait_for(p: Platform, job_id: str):  # type: ignore[no-untyped-def]
    return p.jobs.wait(job_id, timeout=10)


def test_a_deploy_job_records_its_steps_result_and_releases_its_lock() -> None:
    p = platform()
    job = p.app.deployments.create(DeploymentCreate(model="churn", version=1), SYSTEM)
    assert job.state == "queued" and job.actor == "ferry" and job.target == "churn"
    done = wait_for(p, job.id)
    assert done.state == "succeeded" and done.percent == 100
    assert done.result["release"]["release_id"] == "churn-v1-x"
    lines = [line for _, _, line in p.job_store.logs(job.id)]
    assert lines[0] == "resolving churn v1 in the registry" and lines[-1].startswith(
        "churn is serving churn-v1-x")
    assert p.job_store.lock_holder("deployment/churn") is None
    again = wait_for(p, p.app.deployments.create(DeploymentCreate(model="churn", version=2), SYSTEM).id)
    assert again.state == "succeeded"


def test_a_second_change_to_one_deployment_is_refused_while_the_first_runs() -> None:
    gate = threading.Event()
    p = platform(FakeRuntime(gate=gate))
    first = p.app.deployments.create(DeploymentCreate(model="churn", version=1), SYSTEM)
    with pytest.raises(Conflict, match=f"job {first.id}") as e:
        p.app.deployments.create(DeploymentCreate(model="churn", version=2), SYSTEM)
    assert e.value.status == 409 and e.value.details["job"] == first.id
    other = p.app.deployments.create(DeploymentCreate(model="fraud", version=1), SYSTEM)  # another name: fine
    gate.set()
    assert wait_for(p, first.id).state == "succeeded"
    assert wait_for(p, other.id).state == "succeeded"
    assert p.store.get_deployment("churn").release_id == "churn-v1-x"  # no lost update


def test_an_unknown_version_is_refused_before_a_job_and_a_failing_job_keeps_its_error() -> None:
    p = platform(FakeRuntime(broken={"churn-v2-x"}))
    with pytest.raises(VersionNotFound):
        p.app.deployments.create(DeploymentCreate(model="churn", version=9), SYSTEM)
    assert p.job_store.find(kind="deploy") == []
    job = wait_for(p, p.app.deployments.create(DeploymentCreate(model="churn", version=2), SYSTEM).id)
    assert job.state == "failed"
    assert job.error["code"] == "release_failed" and job.error["status"] == 422
    assert "cannot be loaded: boom" in job.error["message"]
    assert p.job_store.lock_holder("deployment/churn") is None


def test_restart_finishes_interrupted_jobs_explicitly_and_reconciles_the_runtime() -> None:
    db = database()
    before = platform(db=db)
    wait_for(before, before.app.deployments.create(DeploymentCreate(model="churn", version=1), SYSTEM).id)
    # The process dies: one deploy mid-way (never recorded), one whose record was written
    # just before the stop, and the runtime (Ray) restarted empty but for an orphan app.
    jobs = SqlJobStore(db)
    cut = jobs.create("deploy", "fraud", "ana", None, {"model": "fraud", "version": 1},
                      lock="deployment/fraud")
    jobs.start(cut.id)
    jobs.progress(cut.id, "building release of fraud v1", 15)
    late = jobs.create("deploy", "churn", "ana", None, {"model": "churn", "version": 2},
                       lock="deployment/churn")
    jobs.start(late.id)
    # the late job's final write happened (the record names it); the cut one's did not
    before.store.put_deployment(DeploymentRecord("churn", "churn-v1-x", Protocol.auto, 2,
                                                 job_id=late.id))
    runtime = FakeRuntime(serving={"fraud": "fraud-v1-x"})  # churn lost, fraud orphaned

    after = platform(runtime, db=db)
    finished = {j.id: j for j in after.recover()}
    assert finished[cut.id].state == "failed"
    assert finished[cut.id].error["code"] == "interrupted"
    assert "at step 'building release of fraud v1'" in finished[cut.id].error["message"]
    assert finished[late.id].state == "succeeded"
    # one reconcile job per name that differs: churn re-applied, the orphan fraud removed
    reconciles = {j.target: j for j in after.job_store.find(kind="reconcile")}
    assert set(reconciles) == {"churn", "fraud"}
    for job in reconciles.values():
        assert wait_for(after, job.id).state == "succeeded"
    assert after.job_store.lock_holder("deployment/fraud") is None
    assert runtime.serving == {"churn": "churn-v1-x"}  # re-applied; the orphan removed
    assert reconciles["churn"].actor == "ferry" and reconciles["churn"].request["runtime"] is None
    assert wait_for(after, reconciles["fraud"].id).result == {"name": "fraud", "removed": True}


def test_paging_jobs_created_in_the_same_instant_skips_none_and_repeats_none() -> None:
    from sqlalchemy import update

    from ferry_platform.store._tables import Job

    db = database()
    jobs = SqlJobStore(db)
    made = {jobs.create("deploy", f"m{i}", "ferry", None, {}).id for i in range(7)}
    with db.session() as s, s.begin():  # one clock tick for all (a busy server's burst)
        s.execute(update(Job).values(created_at=jobs.get(next(iter(made))).created_at))
    seen: list[str] = []
    before = None
    while True:
        page = jobs.find(limit=3, before=before)
        if not page:
            break
        seen += [j.id for j in page]
        before = (page[-1].created_at, page[-1].id)
    assert sorted(seen) == sorted(made) and len(seen) == len(made)
