"""Users, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from ferry_contract import TEAM_PATTERN, PrincipalPublic, Role, UserCreate, UserPublic, UserUpdate
from ferry_platform.application import Application
from ferry_server.deps import AppDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["users"], dependencies=[Depends(get_principal)])

UserName = Annotated[str, Path(pattern=TEAM_PATTERN)]


def _user(app: Application, name: str) -> UserPublic:
    record, roles = app.identity.user(name)
    return UserPublic(name=record.name, is_admin=record.is_admin,
                      disabled=record.disabled_at is not None,
                      roles={t: Role(r) for t, r in roles.items()})


@router.get("/whoami", response_model=PrincipalPublic)
def whoami(who: PrincipalDep) -> PrincipalPublic:
    return PrincipalPublic(user=who.user, is_admin=who.is_admin,
                           roles={t: Role(r) for t, r in who.roles.items()},
                           token_id=who.token_id, scope=who.scope)


@router.get("/users", response_model=list[UserPublic])
def list_users(app: AppDep) -> list[UserPublic]:
    return [_user(app, name) for name in app.identity.user_names()]


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, app: AppDep, who: PrincipalDep) -> UserPublic:
    """Platform admins create users (then add them to teams and issue them a token)."""
    app.identity.create_user(body.name, body.is_admin, who)
    return _user(app, body.name)


@router.patch("/users/{name}", response_model=UserPublic)
def update_user(name: UserName, body: UserUpdate, app: AppDep, who: PrincipalDep) -> UserPublic:
    """Platform admins: disable a user (every token of theirs is refused at once, predictions
    included) or enable it again; grant or take platform admin (never the last one)."""
    app.identity.update_user(name, who, is_admin=body.is_admin, disabled=body.disabled)
    return _user(app, name)
