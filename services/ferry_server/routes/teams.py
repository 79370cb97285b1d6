"""Teams and their members (roles: viewer, deployer, admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import (
    TEAM_PATTERN,
    IdentityNotFound,
    MemberUpdate,
    Role,
    TeamCreate,
    TeamPublic,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["teams"], dependencies=[Depends(get_principal)])

TeamName = Annotated[str, Path(pattern=TEAM_PATTERN)]
UserName = Annotated[str, Path(pattern=TEAM_PATTERN)]


def _team(platform: PlatformDep, name: str, description: str) -> TeamPublic:
    return TeamPublic(name=name, description=description,
                      members={u: Role(r) for u, r in platform.identity.members(name).items()})


@router.get("/teams", response_model=list[TeamPublic])
def list_teams(platform: PlatformDep) -> list[TeamPublic]:
    return [_team(platform, n, d) for n, d in platform.identity.teams()]


@router.post("/teams", response_model=TeamPublic, status_code=201)
def create_team(body: TeamCreate, platform: PlatformDep, who: PrincipalDep) -> TeamPublic:
    """Platform admins create teams."""
    platform.access.require(who, "admin", None, f"create team {body.name!r}")
    platform.identity.create_team(body.name, body.description)
    platform.access.audit(who, "team.create", f"team/{body.name}", body.name)
    return _team(platform, body.name, body.description)


@router.put("/teams/{team}/members/{user}", response_model=TeamPublic)
def set_member(team: TeamName, user: UserName, body: MemberUpdate, platform: PlatformDep,
               who: PrincipalDep) -> TeamPublic:
    """Add ``user`` to ``team`` with ``role``, or change the role (team admins)."""
    if not platform.identity.team_exists(team):
        raise IdentityNotFound(f"no team {team!r}")
    platform.access.require(who, "admin", team, f"change the members of {team!r}")
    platform.identity.set_role(user, team, body.role.value)
    platform.access.audit(who, "team.member", f"team/{team}", team,
                          details={"user": user, "role": body.role.value})
    description = dict(platform.identity.teams()).get(team, "")
    return _team(platform, team, description)


@router.delete("/teams/{team}/members/{user}", status_code=204, response_class=Response)
def remove_member(team: TeamName, user: UserName, platform: PlatformDep,
                  who: PrincipalDep) -> Response:
    if not platform.identity.team_exists(team):
        raise IdentityNotFound(f"no team {team!r}")
    platform.access.require(who, "admin", team, f"change the members of {team!r}")
    platform.identity.remove_member(user, team)
    platform.access.audit(who, "team.member.remove", f"team/{team}", team,
                          details={"user": user})
    return Response(status_code=204)
