"""API tokens: created for a user, shown once, stored hashed, revocable."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import (
    IdentityNotFound,
    TokenCreate,
    TokenIssued,
    TokenPublic,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["tokens"], dependencies=[Depends(get_principal)])

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]


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
