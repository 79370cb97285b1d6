"""Who is calling, teams and their members, users, API tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import (
    TEAM_PATTERN,
    IdentityNotFound,
    MemberUpdate,
    PrincipalPublic,
    Role,
    TeamCreate,
    TeamPublic,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["access"], dependencies=[Depends(get_principal)])

TeamName = Annotated[str, Path(pattern=TEAM_PATTERN)]
UserName = Annotated[str, Path(pattern=TEAM_PATTERN)]
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]


@router.get("/whoami", response_model=PrincipalPublic)
def whoami(who: PrincipalDep) -> PrincipalPublic:
    return PrincipalPublic(user=who.user, is_admin=who.is_admin,
                           roles={t: Role(r) for t, r in who.roles.items()},
                           token_id=who.token_id)


# -- teams ----------------------------------------------------------------------------------
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


# -- users ----------------------------------------------------------------------------------
@router.get("/users", response_model=list[UserPublic])
def list_users(platform: PlatformDep) -> list[UserPublic]:
    return [UserPublic(name=n, is_admin=a,
                       roles={t: Role(r) for t, r in platform.identity.roles(n).items()})
            for n, a in platform.identity.users()]


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, platform: PlatformDep, who: PrincipalDep) -> UserPublic:
    """Platform admins create users (then add them to teams and issue them a token)."""
    platform.access.require(who, "admin", None, f"create user {body.name!r}")
    platform.identity.create_user(body.name, body.is_admin)
    platform.access.audit(who, "user.create", f"user/{body.name}", None,
                          details={"is_admin": body.is_admin})
    return UserPublic(name=body.name, is_admin=body.is_admin)


# -- tokens ---------------------------------------------------------------------------------
@router.post("/tokens", response_model=TokenIssued, status_code=201)
def create_token(body: TokenCreate, platform: PlatformDep, who: PrincipalDep) -> TokenIssued:
    """A new API token for the caller (or, for platform admins, any user). The secret is
    in this answer only; store it (``ferry login`` does)."""
    user = body.user or who.user
    if user != who.user:
        platform.access.require(who, "admin", None, f"create tokens for {user!r}")
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    issued = platform.access.issue_token(user, body.description, ttl)
    platform.access.audit(who, "token.create", f"token/{issued.id}", None,
                          details={"user": user, "expires_at": str(issued.expires_at)})
    return TokenIssued(id=issued.id, user=user, description=body.description,
                       created_at=issued.created_at, expires_at=issued.expires_at,
                       token=issued.secret)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(platform: PlatformDep, who: PrincipalDep) -> list[TokenPublic]:
    """The caller's tokens (platform admins: everyone's). Never the secrets."""
    records = platform.identity.tokens(None if who.is_admin else who.user)
    return [TokenPublic(id=r.id, user=r.user, description=r.description,
                        created_at=r.created_at, expires_at=r.expires_at,
                        revoked_at=r.revoked_at) for r in records]


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: TokenId, platform: PlatformDep, who: PrincipalDep) -> Response:
    record = platform.identity.token(token_id)
    if record is None or (record.user != who.user and not who.is_admin):
        raise IdentityNotFound(f"no token {token_id!r} of yours; list them with "
                               "`ferry tokens list`")
    platform.identity.revoke_token(token_id)
    platform.access.audit(who, "token.revoke", f"token/{token_id}", None,
                          details={"user": record.user})
    return Response(status_code=204)
