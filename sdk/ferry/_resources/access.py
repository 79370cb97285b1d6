"""``client.access``: who you are, teams and their members, users, API tokens, the audit log."""

from __future__ import annotations

from ferry._transport import Transport
from ferry_contract import (
    AuditEventPublic,
    MemberUpdate,
    PortalLinkPublic,
    PrincipalPublic,
    Role,
    TeamCreate,
    TeamPublic,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    TokenScope,
    UserCreate,
    UserPublic,
    UserUpdate,
)


class Access:
    """Identity and governance: who may do what (teams, roles, users, tokens) and what was
    done (the audit log)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def whoami(self) -> PrincipalPublic:
        return PrincipalPublic.model_validate(self._transport.request("GET", "/v1/whoami"))

    def teams(self) -> list[TeamPublic]:
        return [TeamPublic.model_validate(t) for t in self._transport.request("GET", "/v1/teams")]

    def create_team(self, name: str, description: str = "") -> TeamPublic:
        body = TeamCreate(name=name, description=description).model_dump()
        return TeamPublic.model_validate(self._transport.request("POST", "/v1/teams", json=body))

    def set_member(self, team: str, user: str, role: Role | str) -> TeamPublic:
        """Add ``user`` to ``team`` as ``role`` (viewer, deployer, admin), or change it."""
        body = MemberUpdate(role=Role(role)).model_dump(mode="json")
        return TeamPublic.model_validate(
            self._transport.request("PUT", f"/v1/teams/{team}/members/{user}", json=body))

    def remove_member(self, team: str, user: str) -> None:
        self._transport.request("DELETE", f"/v1/teams/{team}/members/{user}")

    def users(self) -> list[UserPublic]:
        return [UserPublic.model_validate(u) for u in self._transport.request("GET", "/v1/users")]

    def create_user(self, name: str, *, is_admin: bool = False) -> UserPublic:
        body = UserCreate(name=name, is_admin=is_admin).model_dump()
        return UserPublic.model_validate(self._transport.request("POST", "/v1/users", json=body))

    def update_user(self, name: str, *, is_admin: bool | None = None,
                    disabled: bool | None = None) -> UserPublic:
        """Platform admins: grant or take platform admin; disable a user (all its tokens are
        refused at once, predictions included) or enable it again."""
        body = UserUpdate(is_admin=is_admin, disabled=disabled).model_dump(exclude_none=True)
        return UserPublic.model_validate(
            self._transport.request("PATCH", f"/v1/users/{name}", json=body))

    def create_token(self, *, user: str | None = None, description: str = "",
                     ttl_days: float | None = 90,
                     scope: TokenScope | str = TokenScope.all) -> TokenIssued:
        """A new API token (for yourself, or as a platform admin for ``user``); ``.token`` is
        the secret, returned only now. ``scope="predict"``: a token that can only predict
        (e.g. for a service calling a model). ``ttl_days=None`` (no expiry): admins only."""
        body = TokenCreate(user=user, description=description, ttl_days=ttl_days,
                           scope=TokenScope(scope)).model_dump(mode="json")
        return TokenIssued.model_validate(self._transport.request("POST", "/v1/tokens", json=body))

    def tokens(self) -> list[TokenPublic]:
        return [TokenPublic.model_validate(t) for t in self._transport.request("GET", "/v1/tokens")]

    def revoke_token(self, token_id: str) -> None:
        self._transport.request("DELETE", f"/v1/tokens/{token_id}")

    def portal_link(self) -> PortalLinkPublic:
        """A one-time link that signs a browser in to the portal as this client's token
        (used once, within minutes; not for a predict-only token)."""
        return PortalLinkPublic.model_validate(self._transport.request("POST", "/v1/portal/links"))

    def audit(self, *, actor: str | None = None, resource: str | None = None,
              team: str | None = None, action: str | None = None,
              limit: int = 100) -> list[AuditEventPublic]:
        """Audit events, newest first (admins: all; others: their teams')."""
        params = {k: v for k, v in {"actor": actor, "resource": resource, "team": team,
                                    "action": action, "limit": limit}.items() if v is not None}
        return [AuditEventPublic.model_validate(e)
                for e in self._transport.request("GET", "/v1/audit", params=params)]
