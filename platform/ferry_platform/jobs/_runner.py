"""Long operations as jobs: recorded, run in the background, observable, never silent.

A job is created (and its resource locked) in one transaction, so two changes to one
deployment cannot both start; it then runs on a worker thread, recording each step with a
percentage and a log line, and ends ``succeeded`` with a result or ``failed`` with the same
error body an API call would return. Jobs interrupted by a stop of the control plane are
finished explicitly on the next start (see ``Platform.recover``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from ferry_contract import FerryError, JobNotFound
from ferry_platform.core import unavailable

log = logging.getLogger("ferry.jobs")


class JobStore(Protocol):
    def create(self, kind: str, target: str, actor: str, team: str | None,
               request: dict[str, Any], lock: str | None = None) -> Any: ...

    def get(self, job_id: str) -> Any: ...

    def start(self, job_id: str) -> None: ...

    def progress(self, job_id: str, step: str, percent: int) -> None: ...

    def log(self, job_id: str, line: str) -> None: ...

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None, state: str | None = None) -> Any: ...

    def find(self, *, kind: str | None = None, target: str | None = None,
             state: str | None = None, team: str | None = None, limit: int = 50) -> list[Any]: ...

    def logs(self, job_id: str, after: int = 0) -> list[tuple[int, Any, str]]: ...


class JobContext:
    """What a job's work function reports through."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self._store = store
        self.job_id = job_id

    def step(self, message: str, percent: int) -> None:
        self._store.progress(self.job_id, message, max(0, min(100, percent)))

    def log(self, line: str) -> None:
        self._store.log(self.job_id, line)


Work = Callable[[JobContext], dict[str, Any]]


def error_body(e: FerryError) -> dict[str, Any]:
    return e.to_record()


class JobRunner:
    def __init__(self, store: JobStore, workers: int = 4) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ferry-job")
        self._futures: dict[str, Future[None]] = {}
        self._guard = threading.Lock()

    def submit(self, kind: str, target: str, actor: str, team: str | None,
               request: dict[str, Any], work: Work, lock: str | None = None) -> Any:
        """Record a job (refused with 409 if ``lock`` is held) and start it."""
        job = self._store.create(kind, target, actor, team, request, lock=lock)
        future = self._pool.submit(self._run, job.id, work)
        with self._guard:
            self._futures[job.id] = future
        future.add_done_callback(lambda _f: self._forget(job.id))
        return job

    def _forget(self, job_id: str) -> None:
        with self._guard:
            self._futures.pop(job_id, None)

    def _run(self, job_id: str, work: Work) -> None:
        self._store.start(job_id)
        try:
            result = work(JobContext(self._store, job_id))
        except FerryError as e:
            self._store.log(job_id, f"failed: {e.code}: {e.message}")
            self._store.finish(job_id, error=error_body(e))
        except Exception as e:
            down = unavailable(e)
            if down is not None:
                log.error("job %s: %s (%s: %s)", job_id, down.message, type(e).__name__, e)
                self._store.log(job_id, f"failed: {down.code}: {down.message}")
                self._store.finish(job_id, error=error_body(down))
                return
            log.exception("job %s failed unexpectedly", job_id)
            self._store.log(job_id, f"failed: internal error: {type(e).__name__}")
            self._store.finish(job_id, error=FerryError(
                f"the job failed unexpectedly ({type(e).__name__}); the control "
                "plane's log has the traceback.").to_record())
        else:
            self._store.finish(job_id, result=result)

    def wait(self, job_id: str, timeout: float | None = None) -> Any:
        """Block until the job ends (for callers that asked to wait); return its record."""
        with self._guard:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        job = self._store.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
