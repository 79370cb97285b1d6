"""Users, and who is calling."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ferry_contract import (
    PrincipalPublic,
    Role,
    UserCreate,
    UserPublic,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["users"], dependencies=[Depends(get_principal)])

@router.get("/whoami", response_model=PrincipalPublic)
def whoami(who: PrincipalDep) -> PrincipalPublic:
    return PrincipalPublic(user=who.user, is_admin=who.is_admin,
                           roles={t: Role(r) for t, r in who.roles.items()},
                           token_id=who.token_id)


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
