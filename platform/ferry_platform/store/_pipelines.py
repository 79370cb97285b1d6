"""Registered pipelines and their runs, in SQL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import and_, or_, select

from ferry_platform.store._db import Database
from ferry_platform.store._tables import FeatureScheduleRow as _Schedule
from ferry_platform.store._tables import PipelineRow as _Pipeline
from ferry_platform.store._tables import PipelineRunRow as _Run
from ferry_platform.store._tables import now as _now


@dataclass(frozen=True)
class PipelineRecord:
    name: str
    team: str | None
    module: str
    path: str | None
    schedule: str | None
    on_alert: list[str]
    overlap: str
    description: str
    timeout_s: float
    created_by: str
    created_at: datetime
    updated_at: datetime
    scheduled_at: datetime | None = None
    updated_by: str = ""  # who last registered it (its unattended runs act as this user)
    revision: int = 1  # how many times it was registered


@dataclass(frozen=True)
class PipelineRunRecord:
    id: str
    pipeline: str
    state: str
    trigger: str
    reason: str
    actor: str
    job_id: str | None
    token_id: str | None
    params: dict[str, Any]
    outcome: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    revision: int = 1  # the pipeline's revision it was started for
    team: str | None = None  # the pipeline's team when it was started


@dataclass(frozen=True)
class PipelineDeletion:
    """What deleting a pipeline did: nothing if a run of it is ``running``; else it
    ``deleted`` it (False: there was none) and ``skipped`` its queued runs."""

    deleted: bool
    running: list[PipelineRunRecord] = field(default_factory=list)
    skipped: list[PipelineRunRecord] = field(default_factory=list)


REASON_MAX = 300


def clip_reason(reason: str) -> str:
    """``reason`` within its column, keeping its start (what started the run) and its end
    (what happened to it last)."""
    if len(reason) <= REASON_MAX:
        return reason
    return reason[:REASON_MAX // 2 - 1] + "…" + reason[-(REASON_MAX - REASON_MAX // 2):]


@dataclass(frozen=True)
class FeatureScheduleRecord:
    view: str
    cron: str
    lookback_hours: float
    created_by: str
    updated_at: datetime
    scheduled_at: datetime | None


def _schedule(r: _Schedule) -> FeatureScheduleRecord:
    return FeatureScheduleRecord(r.view, r.cron, r.lookback_hours, r.created_by, r.updated_at,
                                 r.scheduled_at)


def _pipeline(r: _Pipeline) -> PipelineRecord:
    return PipelineRecord(r.name, r.team, r.module, r.path, r.schedule, list(r.on_alert or []),
                          r.overlap, r.description, r.timeout_s, r.created_by, r.created_at,
                          r.updated_at, r.scheduled_at, r.updated_by, r.revision)


def _run(r: _Run) -> PipelineRunRecord:
    return PipelineRunRecord(r.id, r.pipeline, r.state, r.trigger, r.reason, r.actor, r.job_id,
                             r.token_id, dict(r.params or {}),
                             dict(r.outcome) if r.outcome is not None else None,
                             r.created_at, r.started_at, r.finished_at, revision=r.revision,
                             team=r.team)


class PipelineStore(Protocol):
    def put_pipeline(self, name: str, *, team: str | None, module: str, path: str | None,
                     schedule: str | None, on_alert: list[str], overlap: str,
                     description: str, timeout_s: float, actor: str) -> PipelineRecord: ...
    def get_pipeline(self, name: str) -> PipelineRecord | None: ...
    def pipelines(self, teams: list[str] | None = None, *, after: str | None = None,
                  limit: int | None = None) -> list[PipelineRecord]: ...
    def delete_pipeline(self, name: str, skip_reason: str = "") -> PipelineDeletion: ...
    def mark_scheduled(self, name: str, at: datetime, previous: datetime | None) -> bool: ...
    def add_run(self, pipeline: str, *, state: str, trigger: str, reason: str, actor: str,
                params: dict[str, Any], revision: int = 1,
                team: str | None = None) -> PipelineRunRecord: ...
    def update_run(self, run_id: str, **fields: Any) -> PipelineRunRecord | None: ...
    def claim_run(self, run_id: str, job_id: str | None, started_at: datetime,
                  ) -> tuple[PipelineRunRecord, PipelineRecord | None] | None: ...
    def get_run(self, run_id: str) -> PipelineRunRecord | None: ...
    def runs(self, pipeline: str | None = None, *, state: str | None = None,
             limit: int = 50, teams: list[str] | None = None,
             oldest_first: bool = False,
             before: tuple[datetime, str] | None = None) -> list[PipelineRunRecord]: ...
    def put_schedule(self, view: str, cron: str, lookback_hours: float,
                     actor: str) -> FeatureScheduleRecord: ...
    def schedules(self) -> list[FeatureScheduleRecord]: ...
    def delete_schedule(self, view: str) -> bool: ...
    def mark_materialized(self, view: str, at: datetime | None,
                          previous: datetime | None) -> bool: ...


class SqlPipelineStore:
    """:class:`PipelineStore` on the control plane's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put_pipeline(self, name: str, *, team: str | None, module: str, path: str | None,
                     schedule: str | None, on_alert: list[str], overlap: str,
                     description: str, timeout_s: float, actor: str) -> PipelineRecord:
        with self.db.session() as s, s.begin():
            row = s.get(_Pipeline, name, with_for_update=True)
            if row is None:
                row = _Pipeline(name=name, created_by=actor, created_at=_now(), revision=0)
                s.add(row)
            if row.schedule != schedule:
                row.scheduled_at = _now()  # a new schedule counts from now
            row.team, row.module, row.path, row.schedule = team, module, path, schedule
            row.on_alert, row.overlap, row.description = list(on_alert), overlap, description
            row.timeout_s, row.updated_at, row.updated_by = timeout_s, _now(), actor
            row.revision = (row.revision or 0) + 1
            s.flush()
            return _pipeline(row)

    def get_pipeline(self, name: str) -> PipelineRecord | None:
        with self.db.session() as s:
            row = s.get(_Pipeline, name)
            return _pipeline(row) if row else None

    def pipelines(self, teams: list[str] | None = None, *, after: str | None = None,
                  limit: int | None = None) -> list[PipelineRecord]:
        """Pipelines by name (named after ``after``, at most ``limit``); ``teams``: only
        those of these teams."""
        q = select(_Pipeline).order_by(_Pipeline.name).limit(limit)
        if after is not None:
            q = q.where(_Pipeline.name > after)
        if teams is not None:
            q = q.where(_Pipeline.team.in_(teams))
        with self.db.session() as s:
            return [_pipeline(r) for r in s.scalars(q)]

    def delete_pipeline(self, name: str, skip_reason: str = "") -> PipelineDeletion:
        """Delete ``name`` and record its queued runs as skipped (``skip_reason`` appended
        to their reason), in one transaction; nothing at all if a run of it is running
        (a run is never cut short). The pipeline's row is locked first, as
        :meth:`claim_run` locks it: a queued run either starts before or is skipped."""
        with self.db.session() as s, s.begin():
            row = s.get(_Pipeline, name, with_for_update=True)
            if row is None:
                return PipelineDeletion(False)
            active = list(s.scalars(select(_Run).where(
                _Run.pipeline == name, _Run.state.in_(("queued", "running")))
                .order_by(_Run.created_at).with_for_update()))
            running = [_run(r) for r in active if r.state == "running"]
            if running:
                return PipelineDeletion(False, running=running)
            for r in active:
                r.state, r.finished_at = "skipped", _now()
                r.reason = clip_reason(f"{r.reason}; {skip_reason}" if skip_reason else r.reason)
            s.delete(row)
            s.flush()
            return PipelineDeletion(True, skipped=[_run(r) for r in active])

    def mark_scheduled(self, name: str, at: datetime, previous: datetime | None) -> bool:
        """Record that the schedule's run at ``at`` was started, if no other process did
        (compare-and-set on the previous mark): True for the one that may start it."""
        with self.db.session() as s, s.begin():
            row = s.get(_Pipeline, name, with_for_update=True)
            if row is None or row.scheduled_at != previous:
                return False
            row.scheduled_at = at
            return True

    def add_run(self, pipeline: str, *, state: str, trigger: str, reason: str, actor: str,
                params: dict[str, Any], revision: int = 1,
                team: str | None = None) -> PipelineRunRecord:
        with self.db.session() as s, s.begin():
            row = _Run(id=secrets.token_hex(8), pipeline=pipeline, state=state,
                       trigger=trigger, reason=clip_reason(reason), actor=actor, params=params,
                       # to the microsecond: queued runs start in the order they came
                       revision=revision, team=team, created_at=datetime.now(UTC),
                       finished_at=_now() if state == "skipped" else None)
            s.add(row)
            s.flush()
            return _run(row)

    def update_run(self, run_id: str, **fields: Any) -> PipelineRunRecord | None:
        with self.db.session() as s, s.begin():
            row = s.get(_Run, run_id, with_for_update=True)
            if row is None:
                return None
            if "reason" in fields:
                fields["reason"] = clip_reason(fields["reason"])
            for k, v in fields.items():
                setattr(row, k, v)
            s.flush()
            return _run(row)

    def claim_run(self, run_id: str, job_id: str | None, started_at: datetime,
                  ) -> tuple[PipelineRunRecord, PipelineRecord | None] | None:
        """Mark a queued run running, with its pipeline as it is at that moment (None:
        deleted; the run is left queued for the caller to settle). None if the run is gone
        or no longer queued (a deletion skipped it). The pipeline's row is locked first,
        as a registration or a deletion locks it, so a run starts either before a change
        of its pipeline or after it, never in between."""
        with self.db.session() as s, s.begin():
            found = s.get(_Run, run_id)
            if found is None:
                return None
            pipeline = s.get(_Pipeline, found.pipeline, with_for_update=True)
            row = s.get(_Run, run_id, with_for_update=True, populate_existing=True)
            if row is None or row.state != "queued":
                return None
            if pipeline is not None:
                row.state, row.started_at, row.job_id = "running", started_at, job_id
            s.flush()
            return _run(row), _pipeline(pipeline) if pipeline is not None else None

    def get_run(self, run_id: str) -> PipelineRunRecord | None:
        with self.db.session() as s:
            row = s.get(_Run, run_id)
            return _run(row) if row else None

    def runs(self, pipeline: str | None = None, *, state: str | None = None,
             limit: int = 50, teams: list[str] | None = None,
             oldest_first: bool = False,
             before: tuple[datetime, str] | None = None) -> list[PipelineRunRecord]:
        """Newest first (or oldest first); ``teams``: only runs of these teams; ``before``:
        the (created_at, id) of the last run seen (newest first only)."""
        order = (_Run.created_at, _Run.id) if oldest_first else \
            (_Run.created_at.desc(), _Run.id.desc())
        q = select(_Run).order_by(*order).limit(limit)
        if pipeline is not None:
            q = q.where(_Run.pipeline == pipeline)
        if teams is not None:
            q = q.where(_Run.team.in_(teams))
        if state is not None:
            q = q.where(_Run.state == state)
        if before is not None:
            at, last = before
            q = q.where(or_(_Run.created_at < at, and_(_Run.created_at == at, _Run.id < last)))
        with self.db.session() as s:
            return [_run(r) for r in s.scalars(q)]

    # -- feature views materialized on a schedule ------------------------------------------
    def put_schedule(self, view: str, cron: str, lookback_hours: float,
                     actor: str) -> FeatureScheduleRecord:
        with self.db.session() as s, s.begin():
            row = s.get(_Schedule, view, with_for_update=True)
            if row is None:
                row = _Schedule(view=view)
                s.add(row)
            row.cron, row.lookback_hours, row.created_by = cron, lookback_hours, actor
            row.updated_at = _now()
            s.flush()
            return _schedule(row)

    def schedules(self) -> list[FeatureScheduleRecord]:
        with self.db.session() as s:
            return [_schedule(r) for r in s.scalars(select(_Schedule).order_by(_Schedule.view))]

    def delete_schedule(self, view: str) -> bool:
        with self.db.session() as s, s.begin():
            row = s.get(_Schedule, view, with_for_update=True)
            if row is None:
                return False
            s.delete(row)
            return True

    def mark_materialized(self, view: str, at: datetime | None,
                          previous: datetime | None) -> bool:
        """Claim the due time ``at`` of ``view``'s schedule (compare-and-set)."""
        with self.db.session() as s, s.begin():
            row = s.get(_Schedule, view, with_for_update=True)
            if row is None or row.scheduled_at != previous:
                return False
            row.scheduled_at = at
            return True
