"""SQLAlchemy store of releases and deployments (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

from sqlalchemy import DateTime, Integer, String, Text, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from ferry_contract import Protocol
from ferry_platform.core import ReleaseManifest


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Base(DeclarativeBase):
    pass


class _Release(_Base):
    __tablename__ = "ferry_releases"
    release_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class _Deployment(_Base):
    __tablename__ = "ferry_deployments"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    release_id: Mapped[str] = mapped_column(String(200))
    previous_release_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    protocol: Mapped[str] = mapped_column(String(10))
    replicas: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True)
class DeploymentRecord:
    name: str
    release_id: str
    protocol: Protocol
    replicas: int
    previous_release_id: str | None = None
    updated_at: datetime | None = None


class StateStore(TypingProtocol):
    def save_release(self, manifest: ReleaseManifest) -> None: ...

    def get_release(self, release_id: str) -> ReleaseManifest | None: ...

    def put_deployment(self, record: DeploymentRecord) -> DeploymentRecord: ...

    def get_deployment(self, name: str) -> DeploymentRecord | None: ...

    def list_deployments(self) -> list[DeploymentRecord]: ...

    def delete_deployment(self, name: str) -> None: ...


class SqlStateStore:
    """:class:`StateStore` on any SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if parsed.drivername.startswith("sqlite"):
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            else:  # one shared in-memory database for every thread
                kwargs = {"poolclass": StaticPool,
                          "connect_args": {"check_same_thread": False}}
        self._engine = create_engine(url, **kwargs)
        _Base.metadata.create_all(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

    def save_release(self, manifest: ReleaseManifest) -> None:
        with self._session() as s, s.begin():
            if s.get(_Release, manifest.release_id) is None:
                s.add(_Release(release_id=manifest.release_id, model=manifest.model,
                               version=manifest.version,
                               manifest=manifest.model_dump_json()))

    def get_release(self, release_id: str) -> ReleaseManifest | None:
        with self._session() as s:
            row = s.get(_Release, release_id)
            return ReleaseManifest.model_validate(json.loads(row.manifest)) if row else None

    def put_deployment(self, record: DeploymentRecord) -> DeploymentRecord:
        now = _now()
        with self._session() as s, s.begin():
            row = s.get(_Deployment, record.name, with_for_update=True)
            if row is None:
                row = _Deployment(name=record.name)
                s.add(row)
            row.release_id = record.release_id
            row.previous_release_id = record.previous_release_id
            row.protocol = record.protocol.value
            row.replicas = record.replicas
            row.updated_at = now
        return DeploymentRecord(record.name, record.release_id, record.protocol, record.replicas,
                                record.previous_release_id, now)

    @staticmethod
    def _record(row: _Deployment) -> DeploymentRecord:
        return DeploymentRecord(row.name, row.release_id, Protocol(row.protocol), row.replicas,
                                row.previous_release_id, row.updated_at)

    def get_deployment(self, name: str) -> DeploymentRecord | None:
        with self._session() as s:
            row = s.get(_Deployment, name)
            return self._record(row) if row else None

    def list_deployments(self) -> list[DeploymentRecord]:
        with self._session() as s:
            return [self._record(r) for r in s.scalars(select(_Deployment).order_by(_Deployment.name))]

    def delete_deployment(self, name: str) -> None:
        with self._session() as s, s.begin():
            row = s.get(_Deployment, name)
            if row is not None:
                s.delete(row)
