"""Jobs (long operations) with their logs, and the per-resource locks that serialize them.

Each job names the control-plane process running it (its ``owner``) and carries a lease
(``lease_until``) that this process's heartbeat renews. Writes made on behalf of an owner
are fenced: once another process has taken an expired job over, the first one's progress
and result are refused (``False`` / ``None``) instead of overwriting what the other wrote.
Every log line, step and error is written through the redactor: no credential is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from ferry_contract import Conflict
from ferry_platform.core import REDACTOR
from ferry_platform.store._db import Database
from ferry_platform.store._tables import Job, JobLog, Lock, UTCDateTime, now

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
    owner: str | None = None
    lease_until: datetime | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)


def _record(row: Job) -> JobRecord:
    return JobRecord(row.id, row.kind, row.target, row.state, row.actor, row.team,
                     dict(row.request), row.step, row.percent, row.result, row.error,
                     row.created_at, row.started_at, row.finished_at, row.owner,
                     row.lease_until, list(row.phases or []))


def _clock() -> datetime:
    """Lease arithmetic, to the microsecond (``now()`` of the tables keeps whole seconds)."""
    return datetime.now(UTC)


def _until(lease_s: float) -> datetime:
    return _clock() + timedelta(seconds=lease_s)


def _expired() -> Any:
    return or_(Job.lease_until.is_(None), Job.lease_until < _clock())


class SqlJobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, kind: str, target: str, actor: str, team: str | None,
               request: dict[str, Any], lock: str | None = None, *,
               owner: str | None = None, lease_s: float | None = None) -> JobRecord:
        """A queued job, run by ``owner`` under a lease of ``lease_s`` seconds (without an
        owner, a job nobody vouches for: any process may finish it); with ``lock``,
        atomically takes that resource's lock or raises :class:`Conflict` naming the job
        that holds it."""
        job_id = uuid.uuid4().hex[:16]
        lease = _until(lease_s) if owner and lease_s is not None else None
        try:
            with self.db.session() as s, s.begin():
                if lock:
                    s.add(Lock(resource=lock, job_id=job_id))
                    s.flush()
                # created_at to the microsecond: "newest first" holds within one second
                s.add(Job(id=job_id, kind=kind, target=target, state="queued", actor=actor,
                          team=team, request=request, created_at=datetime.now(UTC),
                          owner=owner, lease_until=lease))
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
             before: tuple[datetime, str] | None = None,
             teams: Collection[str] | None = None,
             private_kinds: Collection[str] = ()) -> list[JobRecord]:
        """Newest first; ``before``: the (created_at, id) of the last job seen.
        ``teams``: only jobs of these teams — with ``private_kinds``, only jobs of those
        kinds are narrowed so (jobs of other kinds are kept, whatever their team)."""
        q = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        for col, value in ((Job.kind, kind), (Job.target, target), (Job.state, state),
                           (Job.team, team)):
            if value is not None:
                q = q.where(col == value)
        if teams is not None:
            mine = Job.team.in_(list(teams))
            q = q.where(or_(Job.kind.not_in(list(private_kinds)), mine)
                        if private_kinds else mine)
        if before is not None:  # after (created_at, id) of the last job seen: ties too
            at, last = before
            q = q.where(or_(Job.created_at < at, and_(Job.created_at == at, Job.id < last)))
        with self.db.session() as s:
            return [_record(r) for r in s.scalars(q)]

    def active(self) -> list[JobRecord]:
        with self.db.session() as s:
            return [_record(r) for r in s.scalars(select(Job).where(Job.state.in_(ACTIVE)))]

    # -- leases ---------------------------------------------------------------------------
    def renew(self, owner: str, lease_s: float) -> int:
        """The heartbeat: extend the lease of every unfinished job ``owner`` runs; how many."""
        with self.db.session() as s, s.begin():
            done = s.execute(update(Job).where(Job.owner == owner, Job.state.in_(ACTIVE))
                             .values(lease_until=_until(lease_s)))
            return int(done.rowcount)  # type: ignore[attr-defined]

    def expired(self) -> list[JobRecord]:
        """Unfinished jobs whose lease has run out (their process stopped renewing it)."""
        q = select(Job).where(Job.state.in_(ACTIVE), _expired()).order_by(Job.created_at)
        with self.db.session() as s:
            return [_record(r) for r in s.scalars(q)]

    def take_over(self, job_id: str, owner: str, lease_s: float) -> JobRecord | None:
        """Make ``owner`` the owner of ``job_id`` if its lease has expired (atomically: of
        several processes trying at once, one gets it); None if it is live or finished."""
        with self.db.session() as s, s.begin():
            done = s.execute(update(Job).where(Job.id == job_id, Job.state.in_(ACTIVE),
                                               _expired())
                             .values(owner=owner, lease_until=_until(lease_s)))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return self.get(job_id)

    @staticmethod
    def _mine(q: Any, job_id: str, owner: str | None) -> Any:
        q = q.where(Job.id == job_id)
        return q if owner is None else q.where(Job.owner == owner, Job.state.in_(ACTIVE))

    # -- what a job reports -------------------------------------------------------------
    def start(self, job_id: str, owner: str | None = None) -> bool:
        """Mark it running; False if ``owner`` no longer runs it."""
        with self.db.session() as s, s.begin():
            done = s.execute(self._mine(update(Job), job_id, owner)
                             .values(state="running", started_at=_clock()))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def progress(self, job_id: str, step: str, percent: int, owner: str | None = None) -> bool:
        """Record the step under way; False (nothing written) if ``owner`` no longer runs it."""
        step = REDACTOR(step)
        with self.db.session() as s, s.begin():
            done = s.execute(self._mine(update(Job), job_id, owner)
                             .values(step=step[:300], percent=percent))
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            self._log(s, job_id, step)
            return True

    def set_phases(self, job_id: str, phases: list[dict[str, Any]],
                   owner: str | None = None) -> bool:
        """Record the job's timed phases so far (the whole list, in order); False (nothing
        written) if ``owner`` no longer runs it."""
        with self.db.session() as s, s.begin():
            done = s.execute(self._mine(update(Job), job_id, owner)
                             .values(phases=REDACTOR.value(phases)))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def log(self, job_id: str, line: str, owner: str | None = None) -> bool:
        with self.db.session() as s, s.begin():
            if owner is not None and s.scalar(self._mine(select(Job.id), job_id, owner)) is None:
                return False
            self._log(s, job_id, line)
            return True

    @staticmethod
    def _log(s: Any, job_id: str, line: str) -> None:
        """Append a line with the job's next sequence number. Writers of one job (its steps
        and a progress watcher, or two processes) queue on the job's row (PostgreSQL: FOR
        UPDATE; SQLite ignores it but runs the one INSERT … SELECT under its write lock), so
        two never read the same last number."""
        s.execute(select(Job.id).where(Job.id == job_id).with_for_update())
        nxt = (select(literal(job_id), func.coalesce(func.max(JobLog.seq), 0) + 1,
                      literal(now(), UTCDateTime()), literal(REDACTOR(line)))
               .where(JobLog.job_id == job_id))
        s.execute(insert(JobLog).from_select(["job_id", "seq", "at", "line"], nxt))

    def logs(self, job_id: str, after: int = 0, limit: int = 1000) -> list[tuple[int, datetime, str]]:
        q = (select(JobLog.seq, JobLog.at, JobLog.line).where(JobLog.job_id == job_id,
                                                             JobLog.seq > after)
             .order_by(JobLog.seq).limit(limit))
        with self.db.session() as s:
            return [(r.seq, r.at, r.line) for r in s.execute(q)]

    def finish(self, job_id: str, *, result: dict[str, Any] | None = None,
               error: dict[str, Any] | None = None, state: str | None = None,
               owner: str | None = None) -> JobRecord | None:
        """Terminal state (succeeded / failed), releasing every lock the job holds (in the
        same transaction: a lock never outlives its job, nor goes before it ends). With
        ``owner``, only if that process still runs the job (else None, nothing written)."""
        final = state or ("failed" if error else "succeeded")
        # a result is shown to whoever reads the job: no connection string nor key in it
        error = REDACTOR.value(error) if error else error
        result = REDACTOR.value(result) if result else result
        with self.db.session() as s, s.begin():
            # to the microsecond, like started_at: a job's phases fit inside its duration
            values: dict[str, Any] = {"state": final, "finished_at": _clock(), "result": result,
                                      "error": error, "lease_until": None}
            if final == "succeeded":
                values["percent"] = 100
            done = s.execute(self._mine(update(Job), job_id, owner).values(**values))
            if not done.rowcount:  # type: ignore[attr-defined]
                return None
            s.execute(delete(Lock).where(Lock.job_id == job_id))
        return self.get(job_id)
