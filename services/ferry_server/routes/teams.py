"""Teams and their members (roles: viewer, deployer, admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import TEAM_PATTERN, MemberUpdate, Role, TeamCreate, TeamPublic
from ferry_platform.application import Application
from ferry_server.deps import AppDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["teams"], dependencies=[Depends(get_principal)])

TeamName = Annotated[str, Path(pattern=TEAM_PATTERN)]
UserName = Annotated[str, Path(pattern=TEAM_PATTERN)]


def _team(app: Application, name: str) -> TeamPublic:
    description, members = app.identity.team(name)
    return TeamPublic(name=name, description=description,
                      members={u: Role(r) for u, r in members.items()})


@router.get("/teams", response_model=list[TeamPublic])
def list_teams(app: AppDep) -> list[TeamPublic]:
    return [_team(app, name) for name in app.identity.team_names()]


@router.post("/teams", response_model=TeamPublic, status_code=201)
def create_team(body: TeamCreate, app: AppDep, who: PrincipalDep) -> TeamPublic:
    """Platform admins create teams."""
    app.identity.create_team(body.name, body.description, who)
    return _team(app, body.name)


@router.put("/teams/{team}/members/{user}", response_model=TeamPublic)
def set_member(team: TeamName, user: UserName, body: MemberUpdate, app: AppDep,
               who: PrincipalDep) -> TeamPublic:
    """Add ``user`` to ``team`` with ``role``, or change the role (team admins)."""
    app.identity.set_member(team, user, body.role.value, who)
    return _team(app, team)


@router.delete("/teams/{team}/members/{user}", status_code=204, response_class=Response)
def remove_member(team: TeamName, user: UserName, app: AppDep, who: PrincipalDep) -> Response:
    app.identity.remove_member(team, user, who)
    return Response(status_code=204)
