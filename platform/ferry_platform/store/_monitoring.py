"""What monitoring remembers in SQL: thresholds per deployment, the latest report and the
state of a canary analysis, and alerts (opened, updated, resolved)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from ferry_platform.store._db import Database
from ferry_platform.store._tables import Alert as _Alert
from ferry_platform.store._tables import Monitor as _Monitor
from ferry_platform.store._tables import MonitorState as _State
from ferry_platform.store._tables import now as _now


@dataclass(frozen=True)
class AlertRecord:
    id: int
    deployment: str
    model: str
    release_id: str | None
    kind: str
    subject: str
    state: str
    value: float | None
    threshold: float | None
    message: str
    team: str | None
    opened_at: datetime
    updated_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class MonitorRecord:
    deployment: str
    config: dict[str, Any]
    updated_at: datetime | None
    updated_by: str | None


class MonitorStore(Protocol):
    def get_monitor(self, deployment: str) -> MonitorRecord | None: ...

    def put_monitor(self, deployment: str, config: dict[str, Any], actor: str) -> MonitorRecord: ...

    def get_state(self, deployment: str) -> dict[str, Any]:
        """``{"report", "report_at", "canary"}`` (Nones when nothing was recorded)."""
        ...

    def put_report(self, deployment: str, report: dict[str, Any]) -> None: ...

    def put_canary(self, deployment: str, canary: dict[str, Any] | None) -> None: ...

    def alerts(self, *, deployment: str | None = None, state: str | None = None,
               teams: list[str] | None = None, limit: int = 100,
               before: int | None = None) -> list[AlertRecord]:
        """Newest first; ``before``: only alerts whose id is lower (the next page)."""
        ...

    def open_alert(self, *, deployment: str, model: str, release_id: str | None, kind: str,
                   subject: str, value: float | None, threshold: float | None, message: str,
                   team: str | None) -> AlertRecord: ...

    def update_alert(self, alert_id: int, value: float | None, message: str) -> None: ...

    def resolve_alert(self, alert_id: int, message: str | None = None) -> AlertRecord | None: ...


def _alert(row: _Alert) -> AlertRecord:
    return AlertRecord(row.id, row.deployment, row.model, row.release_id, row.kind, row.subject,
                       row.state, row.value, row.threshold, row.message, row.team,
                       row.opened_at, row.updated_at, row.resolved_at)


class SqlMonitorStore:
    """:class:`MonitorStore` on the control plane's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_monitor(self, deployment: str) -> MonitorRecord | None:
        with self.db.session() as s:
            row = s.get(_Monitor, deployment)
            return MonitorRecord(row.deployment, dict(row.config), row.updated_at,
                                 row.updated_by) if row else None

    def put_monitor(self, deployment: str, config: dict[str, Any], actor: str) -> MonitorRecord:
        with self.db.session() as s, s.begin():
            row = s.get(_Monitor, deployment, with_for_update=True)
            if row is None:
                row = _Monitor(deployment=deployment)
                s.add(row)
            row.config = config
            row.updated_at = _now()
            row.updated_by = actor
            return MonitorRecord(deployment, config, row.updated_at, actor)

    def get_state(self, deployment: str) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(_State, deployment)
            if row is None:
                return {"report": None, "report_at": None, "canary": None}
            return {"report": row.report, "report_at": row.report_at, "canary": row.canary}

    def _state(self, s: Any, deployment: str) -> _State:
        row = s.get(_State, deployment, with_for_update=True)
        if row is None:
            row = _State(deployment=deployment)
            s.add(row)
        row.updated_at = _now()
        return row

    def put_report(self, deployment: str, report: dict[str, Any]) -> None:
        with self.db.session() as s, s.begin():
            row = self._state(s, deployment)
            row.report = report
            row.report_at = _now()

    def put_canary(self, deployment: str, canary: dict[str, Any] | None) -> None:
        with self.db.session() as s, s.begin():
            self._state(s, deployment).canary = canary

    def alerts(self, *, deployment: str | None = None, state: str | None = None,
               teams: list[str] | None = None, limit: int = 100,
               before: int | None = None) -> list[AlertRecord]:
        q = select(_Alert).order_by(_Alert.id.desc()).limit(limit)
        if before is not None:
            q = q.where(_Alert.id < before)
        if deployment is not None:
            q = q.where(_Alert.deployment == deployment)
        if state is not None:
            q = q.where(_Alert.state == state)
        if teams is not None:
            q = q.where(_Alert.team.in_(teams))
        with self.db.session() as s:
            return [_alert(r) for r in s.scalars(q)]

    def open_alert(self, *, deployment: str, model: str, release_id: str | None, kind: str,
                   subject: str, value: float | None, threshold: float | None, message: str,
                   team: str | None) -> AlertRecord:
        with self.db.session() as s, s.begin():
            row = _Alert(deployment=deployment, model=model, release_id=release_id, kind=kind,
                         subject=subject[:300], state="open", value=value,
                         threshold=threshold, message=message[:4000], team=team,
                         opened_at=_now(), updated_at=_now())
            s.add(row)
            s.flush()
            return _alert(row)

    def update_alert(self, alert_id: int, value: float | None, message: str) -> None:
        with self.db.session() as s, s.begin():
            row = s.get(_Alert, alert_id)
            if row is not None:
                row.value = value
                row.message = message[:4000]
                row.updated_at = _now()

    def resolve_alert(self, alert_id: int, message: str | None = None) -> AlertRecord | None:
        with self.db.session() as s, s.begin():
            row = s.get(_Alert, alert_id, with_for_update=True)
            if row is None or row.state != "open":
                return None
            row.state = "resolved"
            row.resolved_at = row.updated_at = _now()
            if message:
                row.message = message[:4000]
            return _alert(row)
