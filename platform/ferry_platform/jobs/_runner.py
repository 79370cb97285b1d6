"""Long operations as jobs: recorded, run in the background, observable, never silent.

A job is created (and its resource locked) in one transaction, so two changes to one
deployment cannot both start; it then runs on a worker thread, recording each step with a
percentage and a log line, and ends ``succeeded`` with a result or ``failed`` with the same
error body an API call would return.

Several control-plane processes may share one database. Each :class:`JobRunner` is one
owner: every job it creates names it and carries a lease that a heartbeat thread renews
(every third of the lease). A process that stops renewing (killed, frozen, cut off from
the database) loses its jobs once their lease runs out: another process then finishes them
explicitly (see ``Platform.recover``). Writes are fenced by owner, so a worker whose job
was taken over stops at its next step (:class:`LeaseLost`) and cannot overwrite the result.

Traffic changes (rollback, abort, weight, promote, undeploy) run on workers of their own,
so they never queue behind long deploys or evaluations.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from ferry_contract import FerryError, Interrupted, JobNotFound
from ferry_platform.core import unavailable

_ACTIVE = ("queued", "running")  # the store's states of a job not yet finished

log = logging.getLogger("ferry.jobs")

# Short jobs that move traffic (or who may predict): they get workers of their own.
TRAFFIC_KINDS = frozenset({"rollback", "rollout.abort", "rollout.weight", "rollout.promote",
                           "undeploy", "access"})


class JobStore(Protocol):
    def create(self, kind: str, target: str, actor: str, team: str | None,
               request: dict[str, Any], lock: str | None = None, *,
               owner: str | None = None, lease_s: float | None = None) -> Any: ...

    def get(self, job_id: str) -> Any: ...

    def start(self, job_id: str, owner: str | None = None) -> bool: ...

    def progress(self, job_id: str, step: str, percent: int,
                 owner: str | None = None) -> bool: ...

    def log(self, job_id: str, line: str, owner: str | None = None) -> bool: ...

    def set_phases(self, job_id: str, phases: list[dict[str, Any]],
                   owner: str | None = None) -> bool: ...

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None, state: str | None = None,
               owner: str | None = None) -> Any: ...

    def renew(self, owner: str, lease_s: float) -> int: ...

    def find(self, *, kind: str | None = None, target: str | None = None,
             state: str | None = None, team: str | None = None, limit: int = 50,
             before: Any = None, teams: Collection[str] | None = None,
             private_kinds: Collection[str] = ()) -> list[Any]: ...

    def logs(self, job_id: str, after: int = 0) -> list[tuple[int, Any, str]]: ...

    def lock_holder(self, resource: str) -> str | None:
        """The job holding ``resource``'s lock, if any."""
        ...

    def expired(self) -> list[Any]:
        """Unfinished jobs whose lease has run out."""
        ...

    def take_over(self, job_id: str, owner: str, lease_s: float) -> Any:
        """Make ``owner`` the owner of an expired job (atomically); None if it is not."""
        ...


class LeaseLost(Exception):
    """This process no longer runs the job: its lease expired and another process finished
    it. The work stops here; whatever it changed is the other process's to reconcile. Not a
    :class:`FerryError`, so no handler of API errors mistakes it for a failed change and
    compensates."""


class JobContext:
    """What a job's work function reports through."""

    def __init__(self, store: JobStore, job_id: str, owner: str | None = None) -> None:
        self._store = store
        self._owner = owner
        self.job_id = job_id

    def step(self, message: str, percent: int) -> None:
        """Record the step under way; raises :class:`LeaseLost` if the job is no longer
        this process's (so the work stops before its next change)."""
        if not self._store.progress(self.job_id, message, max(0, min(100, percent)),
                                    self._owner):
            raise LeaseLost(f"job {self.job_id} was taken over by another control-plane "
                            "process after its lease expired; this process stops it here")

    def log(self, line: str) -> None:
        self._store.log(self.job_id, line, self._owner)

    def phases(self, phases: list[dict[str, Any]]) -> None:
        """Record the job's timed phases so far (``[{"name", "state", "started",
        "seconds"}]``, in order): what ``ferry jobs show`` and the API list."""
        self._store.set_phases(self.job_id, phases, self._owner)


Work = Callable[[JobContext], dict[str, Any]]


def error_body(e: FerryError) -> dict[str, Any]:
    return e.to_record()


def new_owner() -> str:
    """An id naming this process among every control plane sharing the database."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    """Runs jobs on worker threads under this process's leases.

    ``workers`` run deploys, evaluations, materializations and reconciles;
    ``traffic_workers`` run only :data:`TRAFFIC_KINDS`."""

    def __init__(self, store: JobStore, workers: int = 4, *, traffic_workers: int = 2,
                 lease_s: float = 30.0, owner: str | None = None) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease_s must be > 0, got {lease_s}")
        self._store = store
        self.owner = owner or new_owner()
        self.lease_s = lease_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ferry-job")
        self._traffic = ThreadPoolExecutor(max_workers=traffic_workers,
                                           thread_name_prefix="ferry-traffic")
        self._futures: dict[str, Future[None]] = {}
        self._guard = threading.Lock()
        self._stopping = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # -- the lease ----------------------------------------------------------------------
    def _ensure_heartbeat(self) -> None:
        with self._guard:
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(target=self._beat, name="ferry-heartbeat",
                                                   daemon=True)
                self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stopping.wait(self.lease_s / 3):
            self.renew()

    def renew(self) -> int:
        """Extend the lease of every unfinished job of this process (the heartbeat's tick)."""
        try:
            return int(self._store.renew(self.owner, self.lease_s))
        except Exception as e:  # noqa: BLE001 - the next beat tries again
            log.warning("could not renew the leases of %s: %s", self.owner, e)
            return 0

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, kind: str, target: str, actor: str, team: str | None,
               request: dict[str, Any], work: Work, lock: str | None = None, *,
               long: bool = False) -> Any:
        """Record a job (refused with 409 if ``lock`` is held) and start it. A job of a
        traffic kind that will do long work first (``long``: a promote that must still
        evaluate its candidate) runs with the long jobs, so it never holds a traffic
        worker that a rollback needs."""
        self._ensure_heartbeat()
        job = self._store.create(kind, target, actor, team, request, lock=lock,
                                 owner=self.owner, lease_s=self.lease_s)
        pool = self._traffic if kind in TRAFFIC_KINDS and not long else self._pool
        try:
            future = pool.submit(self._run, job.id, work)
        except RuntimeError:  # shutting down: the job never starts, and says so
            self._interrupt(job.id, "the control plane was stopping when it was submitted")
            raise
        with self._guard:
            self._futures[job.id] = future
        future.add_done_callback(lambda f: self._done(job.id, f))
        return job

    def _done(self, job_id: str, future: Future[None]) -> None:
        with self._guard:
            self._futures.pop(job_id, None)
        if future.cancelled():  # queued when the process stopped: finished, not left behind
            self._interrupt(job_id, "the control plane stopped before it started")

    def _interrupt(self, job_id: str, why: str) -> None:
        message = f"interrupted: {why}. Nothing was changed; run it again."
        try:
            self._store.log(job_id, message, self.owner)
            self._store.finish(job_id, owner=self.owner, error=Interrupted(message).to_record())
        except Exception as e:  # noqa: BLE001 - its lease expires; another process ends it
            log.warning("could not finish job %s: %s", job_id, e)

    def _run(self, job_id: str, work: Work) -> None:
        if not self._store.start(job_id, self.owner):
            log.warning("job %s was taken over before it started; not running it", job_id)
            return
        try:
            result = work(JobContext(self._store, job_id, self.owner))
        except LeaseLost as e:
            log.warning("%s", e)
        except FerryError as e:
            self._store.log(job_id, f"failed: {e.code}: {e.message}", self.owner)
            self._finish(job_id, error=error_body(e))
        except Exception as e:
            down = unavailable(e)
            if down is not None:
                log.error("job %s: %s (%s: %s)", job_id, down.message, type(e).__name__, e)
                self._store.log(job_id, f"failed: {down.code}: {down.message}", self.owner)
                self._finish(job_id, error=error_body(down))
                return
            log.exception("job %s failed unexpectedly", job_id)
            self._store.log(job_id, f"failed: internal error: {type(e).__name__}", self.owner)
            self._finish(job_id, error=FerryError(
                f"the job failed unexpectedly ({type(e).__name__}); the control "
                "plane's log has the traceback.").to_record())
        else:
            self._finish(job_id, result=result)

    def _finish(self, job_id: str, **outcome: Any) -> None:
        if self._store.finish(job_id, owner=self.owner, **outcome) is None:
            log.warning("job %s was taken over by another process after its lease expired; "
                        "its outcome here is not recorded", job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Any:
        """Block until the job ends (for callers that asked to wait); return its record.

        A job this process runs is awaited on its future; one it has not registered yet
        (``submit`` records the job before it hands it to a worker) or that another process
        runs is awaited on the store, so a waiter never gets a record still queued or
        running unless ``timeout`` passed (then :class:`TimeoutError`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.02
        while True:
            with self._guard:
                future = self._futures.get(job_id)
            if future is not None:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                future.result(timeout=left)
            job = self._store.get(job_id)
            if job is None:
                raise JobNotFound(f"no job {job_id!r}")
            if job.state not in _ACTIVE:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job.state} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def shutdown(self, wait: bool = True) -> None:
        """Stop: jobs still queued are finished as interrupted at once, running ones are
        waited for (``wait``); then the heartbeat stops."""
        for pool in (self._traffic, self._pool):
            pool.shutdown(wait=False, cancel_futures=True)
        if wait:
            for pool in (self._traffic, self._pool):
                pool.shutdown(wait=True)
        self._stopping.set()
