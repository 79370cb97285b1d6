"""SQLAlchemy store of releases and deployments (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from typing import Protocol as TypingProtocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry_contract import Protocol
from ferry_platform.core import ReleaseManifest
from ferry_platform.store._db import Database
from ferry_platform.store._tables import Deployment as _Deployment
from ferry_platform.store._tables import Release as _Release
from ferry_platform.store._tables import now as _now


@dataclass(frozen=True)
class DeploymentRecord:
    name: str
    release_id: str
    protocol: Protocol
    replicas: int
    previous_release_id: str | None = None
    updated_at: datetime | None = None
    team: str | None = None
    revision: int = 0
    job_id: str | None = None  # the job that wrote this record
    rollout: dict[str, Any] | None = None  # candidate, weight, mode, sticky_key, started_at
    anonymous_predict: bool = False  # predictions without a token (set by a team admin)
    max_replicas: int | None = None  # autoscaled between replicas and this (None: fixed)

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas is not None


class StateStore(TypingProtocol):
    def save_release(self, manifest: ReleaseManifest) -> None: ...

    def get_release(self, release_id: str) -> ReleaseManifest | None: ...

    def list_releases(self, model: str | None = None,
                      limit: int = 100) -> list[ReleaseManifest]: ...

    def put_deployment(self, record: DeploymentRecord) -> DeploymentRecord: ...

    def get_deployment(self, name: str) -> DeploymentRecord | None: ...

    def list_deployments(self) -> list[DeploymentRecord]: ...

    def delete_deployment(self, name: str) -> None: ...


class SqlStateStore:
    """:class:`StateStore` on any SQLAlchemy URL."""

    def __init__(self, db: Database | str) -> None:
        if isinstance(db, str):
            db = Database(db)
            db.upgrade()
        self.db = db

    def _session(self) -> Session:
        return self.db.session()

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

    def list_releases(self, model: str | None = None, limit: int = 100) -> list[ReleaseManifest]:
        q = select(_Release).order_by(_Release.created_at.desc(), _Release.release_id).limit(limit)
        if model is not None:
            q = q.where(_Release.model == model)
        with self._session() as s:
            return [ReleaseManifest.model_validate(json.loads(r.manifest)) for r in s.scalars(q)]

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
            row.max_replicas = record.max_replicas
            row.updated_at = now
            row.team = record.team
            row.revision = (row.revision or 0) + 1
            row.job_id = record.job_id
            row.rollout = record.rollout
            row.anonymous_predict = record.anonymous_predict
            revision = row.revision
        return replace(record, updated_at=now, revision=revision)

    @staticmethod
    def _record(row: _Deployment) -> DeploymentRecord:
        return DeploymentRecord(row.name, row.release_id, Protocol(row.protocol), row.replicas,
                                row.previous_release_id, row.updated_at, row.team, row.revision,
                                row.job_id, row.rollout, bool(row.anonymous_predict),
                                row.max_replicas)

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
