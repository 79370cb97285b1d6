"""The audit log: every mutating call, who made it, when, and what changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ferry_contract import AuditEventPublic
from ferry_server.deps import AppDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(get_principal)])


@router.get("", response_model=list[AuditEventPublic])
def list_audit_events(
    app: AppDep, who: PrincipalDep,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    resource: Annotated[str | None, Query(max_length=200,
                                          description="e.g. deployment/churn, model/churn")] = None,
    team: Annotated[str | None, Query(max_length=63)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="events older than this id")] = None,
) -> list[AuditEventPublic]:
    """Newest first. Platform admins see every event; others the events of their teams.
    Page with ``before`` (the last id seen)."""
    return [AuditEventPublic(id=e.id, at=e.at, actor=e.actor, action=e.action,
                             resource=e.resource, team=e.team, outcome=e.outcome,
                             details=e.details)
            for e in app.audit_events(who, actor=actor, resource=resource, team=team,
                                      action=action, limit=limit, before=before)]
