"""The control plane's tables. Schema changes go through Alembic (``migrations/``); a test
checks that the migrations and these models agree on every database Ferry supports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC when read back (SQLite drops the
    zone; PostgreSQL keeps it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Release(Base):
    __tablename__ = "ferry_releases"
    release_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Deployment(Base):
    __tablename__ = "ferry_deployments"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    release_id: Mapped[str] = mapped_column(String(200))
    previous_release_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    protocol: Mapped[str] = mapped_column(String(10))
    replicas: Mapped[int] = mapped_column(Integer)  # fixed, or the autoscaling minimum
    max_replicas: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: fixed
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    team: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # last writer
    # A rollout under way: {"candidate", "weight", "mode", "sticky_key", "started_at"}.
    rollout: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Predictions without a token (set by a team admin; shown in status and audited).
    anonymous_predict: Mapped[bool] = mapped_column(Boolean, default=False,
                                                    server_default="0")


class Job(Base):
    __tablename__ = "ferry_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    target: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(63), nullable=True)
    request: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    step: Mapped[str] = mapped_column(String(300), default="", server_default="")
    percent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # type: ignore[type-arg]
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # type: ignore[type-arg]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The control-plane process running it, and until when that process vouches for it
    # (renewed by its heartbeat); None for jobs from before leases (recoverable at once).
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Its timed phases, in order: [{"name", "state", "started", "seconds"}, ...].
    phases: Mapped[list | None] = mapped_column(JSON, nullable=True)  # type: ignore[type-arg]


class JobLog(Base):
    __tablename__ = "ferry_job_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ferry_jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    line: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_ferry_job_logs_job_seq", "job_id", "seq", unique=True),)


class Lock(Base):
    """One row per resource with a change under way: the primary key serializes them. A
    lock belongs to its job and goes when the job is finished, never before."""

    __tablename__ = "ferry_locks"
    resource: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(32))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Team(Base):
    __tablename__ = "ferry_teams"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class User(Base):
    __tablename__ = "ferry_users"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Membership(Base):
    __tablename__ = "ferry_memberships"
    user: Mapped[str] = mapped_column(ForeignKey("ferry_users.name", ondelete="CASCADE"),
                                      primary_key=True)
    team: Mapped[str] = mapped_column(ForeignKey("ferry_teams.name", ondelete="CASCADE"),
                                      primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class Token(Base):
    """An API token: only its SHA-256 is stored; ``id`` is the public handle."""

    __tablename__ = "ferry_tokens"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("ferry_users.name", ondelete="CASCADE"),
                                      index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "all": the user's rights; "predict": predictions (and reading endpoints) only.
    scope: Mapped[str] = mapped_column(String(20), default="all", server_default="all")


class ModelOwner(Base):
    """Which team owns a registered model (and so its deployments)."""

    __tablename__ = "ferry_model_owners"
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    team: Mapped[str] = mapped_column(ForeignKey("ferry_teams.name"), index=True)


class AuditEvent(Base):
    __tablename__ = "ferry_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(60))
    resource: Mapped[str] = mapped_column(String(200), index=True)
    team: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]


class CatalogModel(Base):
    """Read model of a registered model (MLflow is the record; this answers reads fast)."""

    __tablename__ = "ferry_catalog_models"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    payload: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CatalogVersion(Base):
    """Read model of a model version and its lineage."""

    __tablename__ = "ferry_catalog_versions"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class PortalSession(Base):
    """A portal session, or a one-time sign-in link, exchanged for an API token. Only the
    SHA-256 of its secret is stored (the cookie or the link holds the secret). It carries
    its token's rights and ends with it: revoked, expired, its user disabled (checked on
    every request through the join on the token), signed out or past ``expires_at``."""

    __tablename__ = "ferry_portal_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the secret
    kind: Mapped[str] = mapped_column(String(10))  # "session" or "link" (one-time)
    token_id: Mapped[str] = mapped_column(ForeignKey("ferry_tokens.id", ondelete="CASCADE"),
                                          index=True)
    user: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Monitor(Base):
    """A deployment's monitoring thresholds (``set_monitor``)."""

    __tablename__ = "ferry_monitors"
    deployment: Mapped[str] = mapped_column(String(100), primary_key=True)
    config: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_by: Mapped[str] = mapped_column(String(100))


class MonitorState(Base):
    """What monitoring last found for a deployment: its latest report, and the state of a
    rollout's canary analysis (checks, failures, the current step)."""

    __tablename__ = "ferry_monitor_state"
    deployment: Mapped[str] = mapped_column(String(100), primary_key=True)
    report: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # type: ignore[type-arg]
    report_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    canary: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # type: ignore[type-arg]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Alert(Base):
    """An alert: opened when a condition holds, resolved when it no longer does."""

    __tablename__ = "ferry_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(String(100), index=True)
    model: Mapped[str] = mapped_column(String(100))
    release_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300), default="", server_default="")
    state: Mapped[str] = mapped_column(String(20), index=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="", server_default="")
    team: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PipelineRow(Base):
    """A registered pipeline: where its code is and when it runs."""

    __tablename__ = "ferry_pipelines"
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    team: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    module: Mapped[str] = mapped_column(String(300))
    path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    schedule: Mapped[str | None] = mapped_column(String(100), nullable=True)
    on_alert: Mapped[list[str]] = mapped_column(JSON, default=list)
    overlap: Mapped[str] = mapped_column(String(10), default="wait")
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    timeout_s: Mapped[float] = mapped_column(Float, default=3600.0)
    created_by: Mapped[str] = mapped_column(String(100))
    # who last registered it: its scheduled and alert-triggered runs act as this user
    updated_by: Mapped[str] = mapped_column(String(100))
    # counts registrations: a run remembers the one it was started for
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PipelineRunRow(Base):
    """One run of a pipeline: who or what started it, its steps, what it produced."""

    __tablename__ = "ferry_pipeline_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(63), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    trigger: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    actor: Mapped[str] = mapped_column(String(100))
    # the pipeline's revision it was started for (see PipelineRow.revision)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # the pipeline's team when it was started: who may read it (kept after a deletion)
    team: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    token_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeatureScheduleRow(Base):
    """A feature view materialized on a cron schedule."""

    __tablename__ = "ferry_feature_schedules"
    view: Mapped[str] = mapped_column(String(200), primary_key=True)
    cron: Mapped[str] = mapped_column(String(100))
    lookback_hours: Mapped[float] = mapped_column(Float, default=24.0)
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
