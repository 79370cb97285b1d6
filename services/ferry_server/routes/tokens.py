"""API tokens: created for a user, shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import TokenCreate, TokenIssued, TokenPublic, TokenScope
from ferry_server.deps import AppDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1", tags=["tokens"], dependencies=[Depends(get_principal)])

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]


def _public(r: Any) -> TokenPublic:
    return TokenPublic(id=r.id, user=r.user, description=r.description,
                       created_at=r.created_at, expires_at=r.expires_at,
                       revoked_at=r.revoked_at, scope=TokenScope(r.scope))


@router.post("/tokens", response_model=TokenIssued, status_code=201)
def create_token(body: TokenCreate, app: AppDep, who: PrincipalDep) -> TokenIssued:
    """A new API token for the caller (or, for platform admins, any user). The secret is
    in this answer only; store it (``ferry login`` does). ``scope: predict`` makes a token
    that can only predict (and read a deployment's endpoints), e.g. for a service."""
    issued = app.identity.create_token(who, user=body.user, description=body.description,
                                       ttl_days=body.ttl_days, scope=body.scope)
    return TokenIssued(id=issued.id, user=issued.user, description=body.description,
                       created_at=issued.created_at, expires_at=issued.expires_at,
                       scope=TokenScope(issued.scope), token=issued.secret)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(app: AppDep, who: PrincipalDep) -> list[TokenPublic]:
    """The caller's tokens (platform admins: everyone's). Never the secrets."""
    return [_public(r) for r in app.identity.tokens(who)]


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: TokenId, app: AppDep, who: PrincipalDep) -> Response:
    """Revoke a token: refused by the control plane at once and by the data plane within
    seconds."""
    app.identity.revoke_token(token_id, who)
    return Response(status_code=204)
