"""Jobs (long operations) with their logs, and the per-resource locks that serialize them.

Every log line, step and error is written through the redactor: no credential is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ferry_contract import Conflict
from ferry_platform.core import REDACTOR
from ferry_platform.store._db import Database
from ferry_platform.store._tables import Job, JobLog, Lock, now

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    target: str
    state: str
    actor: str
    team: str | None
    request: dict[str, Any]
    step: str = ""
    percent: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


def _record(row: Job) -> JobRecord:
    return JobRecord(row.id, row.kind, row.target, row.state, row.actor, row.team,
                     dict(row.request), row.step, row.percent, row.result, row.error,
                     row.created_at, row.started_at, row.finished_at)


class SqlJobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, kind: str, target: str, actor: str, team: str | None,
               request: dict[str, Any], lock: str | None = None) -> JobRecord:
        """A queued job; with ``lock``, atomically takes that resource's lock or raises
        :class:`Conflict` naming the job that holds it."""
        job_id = uuid.uuid4().hex[:16]
        try:
            with self.db.session() as s, s.begin():
                if lock:
                    s.add(Lock(resource=lock, job_id=job_id))
                    s.flush()
                s.add(Job(id=job_id, kind=kind, target=target, state="queued", actor=actor,
                          team=team, request=request, created_at=now()))
        except IntegrityError:
            holder = self.lock_holder(lock or "")
            raise Conflict(
                f"another change to {lock} is under way (job {holder}); wait for it to finish "
                f"(`ferry jobs show {holder}`), then retry.",
                details={"resource": lock, "job": holder}) from None
        return self.get(job_id)  # type: ignore[return-value]

    def lock_holder(self, resource: str) -> str | None:
        with self.db.session() as s:
            row = s.get(Lock, resource)
            return row.job_id if row else None

    def get(self, job_id: str) -> JobRecord | None:
        with self.db.session() as s:
            row = s.get(Job, job_id)
            return _record(row) if row else None

    def find(self, *, kind: str | None = None, target: str | None = None,
             state: str | None = None, team: str | None = None, limit: int = 50,
             before: datetime | None = None) -> list[JobRecord]:
        q = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        for col, value in ((Job.kind, kind), (Job.target, target), (Job.state, state),
                           (Job.team, team)):
            if value is not None:
                q = q.where(col == value)
        if before is not None:
            q = q.where(Job.created_at < before)
        with self.db.session() as s:
            return [_record(r) for r in s.scalars(q)]

    def active(self) -> list[JobRecord]:
        with self.db.session() as s:
            return [_record(r) for r in s.scalars(select(Job).where(Job.state.in_(ACTIVE)))]

    def start(self, job_id: str) -> None:
        with self.db.session() as s, s.begin():
            s.execute(update(Job).where(Job.id == job_id).values(state="running",
                                                                started_at=now()))

    def progress(self, job_id: str, step: str, percent: int) -> None:
        step = REDACTOR(step)
        with self.db.session() as s, s.begin():
            s.execute(update(Job).where(Job.id == job_id).values(step=step[:300],
                                                                percent=percent))
            self._log(s, job_id, step)

    def log(self, job_id: str, line: str) -> None:
        with self.db.session() as s, s.begin():
            self._log(s, job_id, line)

    @staticmethod
    def _log(s: Any, job_id: str, line: str) -> None:
        seq = s.scalar(select(func.coalesce(func.max(JobLog.seq), 0)).where(
            JobLog.job_id == job_id)) + 1
        s.add(JobLog(job_id=job_id, seq=seq, at=now(), line=REDACTOR(line)))

    def logs(self, job_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, datetime, str]]:
        q = (select(JobLog.seq, JobLog.at, JobLog.line).where(JobLog.job_id == job_id,
                                                             JobLog.seq > after)
             .order_by(JobLog.seq).limit(limit))
        with self.db.session() as s:
            return [(r.seq, r.at, r.line) for r in s.execute(q)]

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None, state: str | None = None) -> JobRecord:
        """Terminal state (succeeded / failed), releasing every lock the job holds."""
        final = state or ("failed" if error else "succeeded")
        error = REDACTOR.value(error) if error else error
        with self.db.session() as s, s.begin():
            values: dict[str, Any] = {"state": final, "finished_at": now(), "result": result,
                                      "error": error}
            if final == "succeeded":
                values["percent"] = 100
            s.execute(update(Job).where(Job.id == job_id).values(**values))
            s.execute(delete(Lock).where(Lock.job_id == job_id))
        return self.get(job_id)  # type: ignore[return-value]
