"""Several control-plane processes on one database: jobs belong to the process that runs
them for as long as its lease is renewed; only an expired lease lets another process finish
a job; reconcile never removes what a live job is creating; traffic changes never queue
behind long jobs. Each "process" here is a Platform with its own JobRunner (its own owner
id and heartbeat) on a shared SQLite file, with the fakes of the real interfaces."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _fakes import FakePackager, FakeRegistry, FakeRuntime

from ferry_contract import Conflict, DeploymentCreate
from ferry_platform import Platform, Settings
from ferry_platform.access import SYSTEM, AccessService
from ferry_platform.jobs import JobContext, JobRunner, LeaseLost
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.store import Database, SqlIdentityStore, SqlJobStore, SqlStateStore


def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path}/state.db")
    db.upgrade()
    return db


def process(db: Database, runtime: FakeRuntime, lease_s: float = 0.6,
            store: SqlJobStore | None = None) -> Platform:
    """One control-plane process: its own runner (owner, heartbeat) over the shared DB."""
    state, jobs = SqlStateStore(db), store or SqlJobStore(db)
    registry = FakeRegistry({"churn": [1, 2], "fraud": [1]})
    releases = ReleaseService(registry, FakePackager(), runtime, state, Defaults(replicas=2))
    access = AccessService(SqlIdentityStore(db))
    access.bootstrap()
    home = Path(str(db.engine.url.database)).parent
    return Platform(settings=Settings(home=home), registry=registry, packager=None,  # type: ignore[arg-type]
                    runtime=runtime,  # type: ignore[arg-type]
                    store=state, releases=releases, features=None, db=db,  # type: ignore[arg-type]
                    job_store=jobs, jobs=JobRunner(jobs, lease_s=lease_s),
                    identity=SqlIdentityStore(db), access=access)


def until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {check}")


def dead_process_job(db: Database, target: str, step: str, lease_s: float) -> str:
    """A job as a process leaves it when it is killed mid-way: running, at ``step``, its
    lock held, its lease renewed for the last time ``lease_s`` ago at most."""
    jobs = SqlJobStore(db)
    job = jobs.create("deploy", target, "ana", None, {"model": target, "version": 1},
                      lock=f"deployment/{target}", owner="host-a:4242:dead", lease_s=lease_s)
    jobs.start(job.id, "host-a:4242:dead")
    jobs.progress(job.id, step, 40, "host-a:4242:dead")
    return str(job.id)


def test_a_live_process_jobs_are_never_finished_or_raced_by_another_process(
        tmp_path: Path) -> None:
    db = database(tmp_path)
    gate = threading.Event()
    serve = FakeRuntime(gate=gate)  # one Serve, shared by both processes
    a = process(db, serve, lease_s=1.5)
    job = a.app.deployments.create(DeploymentCreate(model="churn", version=1), SYSTEM)
    until(lambda: a.job_store.get(job.id).state == "running")
    serve.unrouted["churn"] = {"churn-v1-x"}  # A's release started, nothing recorded yet
    b = process(db, serve, lease_s=1.5)
    b.start()  # B starts (recovers, reconciles) while A's deploy runs
    try:
        time.sleep(3 * a.jobs.lease_s)  # several of A's leases: A's heartbeat renews them
        assert a.job_store.get(job.id).state == "running"
        assert b.job_store.lock_holder("deployment/churn") == job.id
        assert b.job_store.find(kind="reconcile") == []  # A's app was not touched
        assert serve.releases_of("churn") == {"churn-v1-x"}
        with pytest.raises(Conflict, match=f"job {job.id}"):  # never two changes at once
            b.app.deployments.create(DeploymentCreate(model="churn", version=2), SYSTEM)
        gate.set()
        done = a.jobs.wait(job.id, timeout=10)
        assert done.state == "succeeded" and done.owner == a.jobs.owner
        assert serve.routes["churn"] == {"churn-v1-x": 100}
    finally:
        gate.set()
        b.stop()
        a.stop()


def test_a_dead_process_job_is_finished_only_after_its_lease_expires(tmp_path: Path) -> None:
    db = database(tmp_path)
    b = process(db, FakeRuntime(), lease_s=5)
    job_id = dead_process_job(db, "fraud", "loading release fraud-v1-x in isolation",
                              lease_s=1.0)
    assert b.recover() == []  # the lease still runs: the job may be alive somewhere
    assert b.job_store.get(job_id).state == "running"
    assert b.job_store.lock_holder("deployment/fraud") == job_id
    time.sleep(1.1)
    [done] = b.recover()
    assert done.id == job_id and done.state == "failed" and done.owner == b.jobs.owner
    assert done.error["code"] == "interrupted"
    assert "at step 'loading release fraud-v1-x in isolation'" in done.error["message"]
    assert done.error["details"] == {"step": "loading release fraud-v1-x in isolation",
                                     "owner": "host-a:4242:dead"}
    assert b.job_store.lock_holder("deployment/fraud") is None
    assert b.recover() == []  # finished once


def test_a_running_process_recovers_expired_jobs_without_being_restarted(
        tmp_path: Path) -> None:
    db = database(tmp_path)
    serve = FakeRuntime()
    b = process(db, serve, lease_s=1.0)
    b.start()
    try:
        job_id = dead_process_job(db, "fraud", "starting fraud-v1-x beside what serves", 0.3)
        serve.unrouted["fraud"] = {"fraud-v1-x"}  # the dead process's release was starting
        done = until(lambda: (j := b.job_store.get(job_id)).state == "failed" and j)
        assert done.error["code"] == "interrupted"
        # then the leaked release of a deployment nobody records is removed, as a job
        until(lambda: b.job_store.find(kind="reconcile", target="fraud"))
        [rec] = b.job_store.find(kind="reconcile", target="fraud")
        assert b.jobs.wait(rec.id, timeout=20).result == {"name": "fraud", "removed": True}
        assert serve.names() == [] and b.job_store.lock_holder("deployment/fraud") is None
    finally:
        b.stop()


def test_recovery_by_two_processes_at_once_finishes_a_job_once(tmp_path: Path) -> None:
    db = database(tmp_path)
    serve = FakeRuntime()
    ps = [process(db, serve, lease_s=5) for _ in range(4)]
    job_id = dead_process_job(db, "fraud", "building release of fraud v1", 0.2)
    time.sleep(0.3)
    results: list[list[Any]] = []
    threads = [threading.Thread(target=lambda p=p: results.append(p.recover())) for p in ps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    lines = [line for _, _, line in ps[0].job_store.logs(job_id)]
    assert sum("interrupted" in line for line in lines) == 1


class CutOff(SqlJobStore):
    """A process whose heartbeat cannot reach the database (its other writes can)."""

    def renew(self, owner: str, lease_s: float) -> int:
        raise ConnectionError("database unreachable")


def test_a_process_that_lost_its_job_can_neither_continue_it_nor_overwrite_its_outcome(
        tmp_path: Path) -> None:
    db = database(tmp_path)
    frozen = JobRunner(CutOff(db), lease_s=0.3)
    resume, stepped = threading.Event(), threading.Event()
    seen: list[BaseException] = []

    def work(ctx: JobContext) -> dict[str, Any]:
        resume.wait(10)
        try:
            ctx.step("switching traffic", 80)
        except LeaseLost as e:
            seen.append(e)
            raise
        finally:
            stepped.set()
        return {"switched": True}

    job = frozen.submit("deploy", "churn", "ana", None, {}, work, lock="deployment/churn")
    b = process(db, FakeRuntime(), lease_s=5)
    [taken] = until(lambda: b.recover())  # A's lease ran out: B finishes the job
    assert taken.id == job.id and taken.error["code"] == "interrupted"
    resume.set()  # A wakes up and tries to go on
    assert stepped.wait(20) and seen  # its next step stops it
    frozen.shutdown(wait=True)
    final = b.job_store.get(job.id)
    assert final.state == "failed" and final.error["code"] == "interrupted"
    assert final.result is None and final.owner == b.jobs.owner
    assert "switching traffic" not in [line for _, _, line in b.job_store.logs(job.id)]


def test_traffic_changes_never_wait_behind_long_jobs(tmp_path: Path) -> None:
    db = database(tmp_path)
    p = process(db, FakeRuntime(), lease_s=5)
    for version in (1, 2):
        job = p.app.deployments.create(DeploymentCreate(model="churn", version=version), SYSTEM)
        assert p.jobs.wait(job.id, timeout=10).state == "succeeded"
    hold = threading.Event()

    def evaluation(ctx: JobContext) -> dict[str, Any]:
        ctx.step("scoring", 10)
        hold.wait(30)
        return {}

    try:  # more long jobs than the pool has workers: some are queued
        long = [p.jobs.submit("evaluate", "churn", "ana", None, {}, evaluation)
                for _ in range(6)]
        until(lambda: sum(p.job_store.get(j.id).state == "running" for j in long) == 4)
        t0 = time.monotonic()
        rollback = p.app.deployments.rollback("churn", SYSTEM)
        done = p.jobs.wait(rollback.id, timeout=20)
        assert done.state == "succeeded", done.error
        assert time.monotonic() - t0 < 10  # on a queue behind the evaluations: never
        assert done.result["release"]["release_id"] == "churn-v1-x"
        assert [p.job_store.get(j.id).state for j in long].count("queued") == 2
    finally:
        hold.set()
        p.stop()


class _SlowGate:
    """An evaluation service whose evaluation of a candidate takes as long as ``hold`` says
    (and then passes): the part of a promote that may take minutes."""

    def __init__(self, hold: threading.Event) -> None:
        self.hold, self.evaluating = hold, 0

    def evaluate(self, model: str, version: int, against: int | None) -> Any:
        self.evaluating += 1
        self.hold.wait(30)

    def require_passed(self, *args: Any) -> None:
        return None


def test_a_promote_that_must_evaluate_never_holds_a_traffic_worker(tmp_path: Path) -> None:
    from ferry_contract import RolloutCreate
    from ferry_platform.application._evaluations import GatePlan

    db = database(tmp_path)
    p = process(db, FakeRuntime(), lease_s=5)
    names = ["a", "b", "c"]
    for name in names:  # three deployments, each with a canary of v2 beside v1
        job = p.app.deployments.create(DeploymentCreate(model="churn", version=1, name=name),
                                       SYSTEM)
        assert p.jobs.wait(job.id, timeout=10).state == "succeeded"
        job = p.app.deployments.rollout(name, RolloutCreate(version=2), SYSTEM)
        assert p.jobs.wait(job.id, timeout=10).state == "succeeded", job
    hold = threading.Event()
    slow = _SlowGate(hold)
    evaluations = p.app.deployments._evaluations
    evaluations.gate_plan = lambda model, version, *a: GatePlan(  # type: ignore[method-assign]
        slow, model, version, None, "become champion", evaluate=True)  # type: ignore[arg-type]
    try:  # more promotes still to evaluate than there are traffic workers
        promotes = [p.app.deployments.promote(name, SYSTEM) for name in names[:2]]
        until(lambda: slow.evaluating == 2)
        t0 = time.monotonic()
        abort = p.app.deployments.abort("c", SYSTEM)
        done = p.jobs.wait(abort.id, timeout=20)
        assert done.state == "succeeded", done.error
        assert time.monotonic() - t0 < 10  # never on a queue behind the evaluations
        assert [p.job_store.get(j.id).state for j in promotes] == ["running", "running"]
    finally:
        hold.set()
    for j in promotes:
        assert p.jobs.wait(j.id, timeout=20).state == "succeeded"
    p.stop()


def test_a_stopped_process_leaves_no_queued_job_behind(tmp_path: Path) -> None:
    db = database(tmp_path)
    runner = JobRunner(SqlJobStore(db), workers=1, lease_s=5)
    hold = threading.Event()
    first = runner.submit("evaluate", "churn", "ana", None, {},
                          lambda ctx: {"waited": hold.wait(10)})
    queued = runner.submit("evaluate", "fraud", "ana", None, {}, lambda ctx: {"ran": True})
    stopper = threading.Thread(target=runner.shutdown)
    stopper.start()
    store = SqlJobStore(db)
    cancelled = until(lambda: (j := store.get(queued.id)).state == "failed" and j)
    assert cancelled.error["code"] == "interrupted"
    assert "stopped before it started" in cancelled.error["message"]
    assert store.get(first.id).state == "running"  # a running job is waited for
    hold.set()
    stopper.join(10)
    assert store.get(first.id).state == "succeeded"


def test_reconcile_removes_releases_no_router_routes_and_no_record_wants(
        tmp_path: Path) -> None:
    db = database(tmp_path)
    serve = FakeRuntime()
    p = process(db, serve, lease_s=5)
    for version in (1, 2):
        assert p.jobs.wait(p.app.deployments.create(DeploymentCreate(model="churn", version=version), SYSTEM)
                           .id, timeout=10).state == "succeeded"
    assert serve.releases_of("churn") == {"churn-v1-x", "churn-v2-x"}  # v1 kept for rollback
    serve.unrouted["churn"] = {"churn-v9-x"}  # a crash between its start and the switch
    [job] = p.reconcile()
    assert job.request["drift"] == "releases ['churn-v9-x'] run without being routed or " \
                                   "recorded"
    assert p.jobs.wait(job.id, timeout=10).state == "succeeded"
    assert serve.releases_of("churn") == {"churn-v1-x", "churn-v2-x"}
    assert serve.routes["churn"] == {"churn-v2-x": 100, "churn-v1-x": 0}
    assert p.reconcile() == []  # in step now: nothing to do
    p.stop()


LOCKED_COUNTER = """
import sys, time
from pathlib import Path
from ferry_platform.store import Database

db, counter = Database(sys.argv[1]), Path(sys.argv[2])
for _ in range(15):
    with db.exclusive("serve-config"):
        n = int(counter.read_text())
        time.sleep(0.01)  # a read-modify-write that takes a while, as Serve's does
        counter.write_text(str(n + 1))
"""


def test_two_processes_never_interleave_inside_the_database_lock_on_sqlite(
        tmp_path: Path) -> None:
    db = database(tmp_path)
    counter = tmp_path / "counter"
    counter.write_text("0")
    script = tmp_path / "rmw.py"
    script.write_text(LOCKED_COUNTER)
    procs = [subprocess.Popen([sys.executable, str(script), str(db.engine.url), str(counter)])
             for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert counter.read_text() == "30"  # no increment lost to the other process
