"""Who may do what: API tokens, users in teams with roles, and the audit log.

Roles are per team and ordered: ``viewer`` < ``deployer`` < ``admin``; a platform admin
(the user the embedded platform creates on first start) has every role everywhere. What
each role may do is the application layer's policy table
(``ferry_platform.application.POLICY``); this module says *who* the caller is. Tokens are
random 256-bit secrets shown once; only their SHA-256 is stored. A token's ``scope`` is
``all`` (its user's rights) or ``predict`` (predictions only). Messages never contain a
token.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ferry_contract import IdentityNotFound, Unauthenticated
from ferry_platform.core import write_private

log = logging.getLogger("ferry.access")

ROLES = ("viewer", "deployer", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
SCOPES = ("all", "predict")
TOKEN_PREFIX = "fy_"
SESSION_PREFIX = "fys_"  # a portal session's secret (its cookie)
LINK_PREFIX = "fyl_"  # a one-time sign-in link's secret
BOOTSTRAP_USER = "admin"
DEFAULT_TEAM = "default"


class IdentityStore(Protocol):
    generation: int  # bumped on every change of roles or tokens made through this process
    def create_user(self, name: str, is_admin: bool = False) -> None: ...
    def user(self, name: str) -> Any: ...
    def users(self) -> list[Any]: ...
    def set_user(self, name: str, *, is_admin: bool | None = None,
                 disabled: bool | None = None) -> Any: ...
    def create_team(self, name: str, description: str = "") -> None: ...
    def teams(self) -> list[tuple[str, str]]: ...
    def team_exists(self, name: str) -> bool: ...
    def set_role(self, user: str, team: str, role: str) -> None: ...
    def remove_member(self, user: str, team: str) -> None: ...
    def roles(self, user: str) -> dict[str, str]: ...
    def members(self, team: str) -> dict[str, str]: ...
    def add_token(self, token_id: str, user: str, digest: str, description: str,
                  expires_at: datetime | None, scope: str = "all") -> Any: ...
    def credentials(self, digest: str) -> tuple[Any, Any, dict[str, str]] | None: ...
    def predict_digests(self, team: str | None) -> dict[str, float | None]: ...
    def token(self, token_id: str) -> Any: ...
    def tokens(self, user: str | None = None) -> list[Any]: ...
    def revoke_token(self, token_id: str) -> None: ...
    def cap_token_expiry(self, user: str, longest: timedelta) -> list[str]: ...
    def model_owner(self, model: str) -> str | None: ...
    def claim_model(self, model: str, team: str) -> str: ...
    def audit(self, actor: str, action: str, resource: str, team: str | None, outcome: str,
              details: dict[str, Any] | None = None) -> None: ...
    def audit_events(self, *, actor: str | None = None, resource: str | None = None,
                     team: str | None = None, teams: list[str] | None = None,
                     action: str | None = None, limit: int = 100,
                     before_id: int | None = None, after_id: int | None = None) -> list[Any]: ...
    def add_session(self, digest: str, kind: str, token_id: str, user: str,
                    expires_at: datetime) -> Any: ...
    def session_credentials(self, digest: str, kind: str = "session") -> tuple[
        Any, Any, Any, dict[str, str]] | None: ...
    def end_session(self, digest: str, kind: str = "session") -> bool: ...


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user: str
    is_admin: bool = False
    roles: dict[str, str] = field(default_factory=dict)  # team -> role
    token_id: str = ""
    scope: str = "all"  # "predict": the token may only predict

    def role_in(self, team: str | None) -> str | None:
        if self.is_admin:
            return "admin"
        return self.roles.get(team) if team else None

    def can(self, role: str, team: str | None) -> bool:
        have = self.role_in(team)
        return have is not None and RANK[have] >= RANK[role]

    def teams_with(self, role: str) -> list[str]:
        return sorted(t for t, r in self.roles.items() if RANK[r] >= RANK[role])


SYSTEM = Principal(user="ferry", is_admin=True)
"""The control plane itself (reconciling after a restart)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    id: str
    user: str
    secret: str  # shown once, never stored
    expires_at: datetime | None
    created_at: datetime
    scope: str = "all"


class AccessService:
    """``cache_s``: how long an authenticated token's user and roles are reused without
    asking the database (0: never). Changes made through this process apply at once;
    changes made through another control-plane process within ``cache_s``. Expiry is
    checked on every request."""

    def __init__(self, store: IdentityStore, cache_s: float = 2.0) -> None:
        self._store = store
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, int, Any, Any, dict[str, str]]] = {}

    # -- authentication -----------------------------------------------------------------
    def cached(self, secret: str) -> Principal | None:
        """The caller if its token was looked up within ``cache_s`` (no I/O), else None."""
        hit = self._cache.get(digest(secret))
        if hit is None or time.monotonic() - hit[0] >= self._cache_s or \
                hit[1] != self._store.generation:
            return None
        return self._principal(hit[2], hit[3], hit[4])

    def authenticate(self, secret: str | None) -> Principal:
        """The caller of ``secret`` (401 :class:`Unauthenticated` naming why not)."""
        if not secret:
            raise Unauthenticated(
                "no API token: send 'Authorization: Bearer <token>'. Get one with "
                "`ferry login` (the local platform's admin token is in $FERRY_HOME/admin-token).")
        found = self.cached(secret)
        if found is not None:
            return found
        key = digest(secret)
        generation = self._store.generation
        looked_up = self._store.credentials(key)
        if looked_up is None:
            raise Unauthenticated("the API token is not valid (unknown); log in again "
                                  "with `ferry login`.")
        record, user, roles = looked_up
        if self._cache_s > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), generation, record, user, roles)
        return self._principal(record, user, roles)

    @staticmethod
    def _principal(record: Any, user: Any, roles: dict[str, str]) -> Principal:
        if record.revoked_at is not None:
            raise Unauthenticated(f"the API token {record.id} was revoked; create a new one "
                                  "with `ferry tokens create` or ask an admin.")
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            raise Unauthenticated(f"the API token {record.id} expired at "
                                  f"{record.expires_at:%Y-%m-%d %H:%M} UTC; create a "
                                  "new one with `ferry tokens create`.")
        if user.disabled_at is not None:
            raise Unauthenticated(f"the user {record.user!r} is disabled; ask a platform admin.")
        return Principal(user=record.user, is_admin=user.is_admin, roles=roles,
                         token_id=record.id, scope=record.scope)

    def principal_of(self, user: str) -> Principal | None:
        """``user``'s rights as they are now, for work done on its behalf with no request
        (a scheduled pipeline run); None if the user is gone or disabled. Never cached."""
        record = self._store.user(user)
        if record is None or record.disabled_at is not None:
            return None
        return Principal(user=user, is_admin=record.is_admin, roles=self._store.roles(user))

    # -- what the policy needs to know ---------------------------------------------------
    def model_team(self, model: str) -> str | None:
        return self._store.model_owner(model)

    def claim_model(self, model: str, team: str) -> str:
        """Record ``team`` as the owner of ``model`` unless it has one; the owner."""
        return self._store.claim_model(model, team)

    def team_exists(self, team: str) -> bool:
        return self._store.team_exists(team)

    def team_names(self) -> list[str]:
        return [t for t, _ in self._store.teams()]

    def predict_digests(self, team: str | None) -> dict[str, float | None]:
        """The tokens that may predict on ``team``'s deployments (digest -> expiry)."""
        return self._store.predict_digests(team)

    def audit(self, who: Principal, action: str, resource: str, team: str | None,
              outcome: str = "ok", details: dict[str, Any] | None = None) -> None:
        self._store.audit(who.user, action, resource, team, outcome, details)

    # -- portal sessions ----------------------------------------------------------------
    def open_session(self, who: Principal, kind: str, ttl: timedelta) -> tuple[str, datetime]:
        """A new portal session (or one-time sign-in link, ``kind="link"``) carrying
        ``who``'s token: its secret and when it ends (``ttl`` from now, or the token's own
        expiry if sooner)."""
        token = self._store.token(who.token_id)
        if token is None:
            raise Unauthenticated("the API token is not valid (unknown); log in again.")
        until = datetime.now(UTC).replace(microsecond=0) + ttl
        if token.expires_at is not None and token.expires_at < until:
            until = token.expires_at
        secret = (LINK_PREFIX if kind == "link" else SESSION_PREFIX) + secrets.token_urlsafe(32)
        self._store.add_session(digest(secret), kind, who.token_id, who.user, until)
        return secret, until

    def session(self, secret: str | None, kind: str = "session") -> Principal:
        """The caller of a live portal session (or link): its token's rights, refused
        (401) once the session ended or expired, or its token was revoked or expired, or
        its user disabled. Never cached: a revocation applies to the next request."""
        found = self._store.session_credentials(digest(secret), kind) if secret else None
        if found is None:
            raise Unauthenticated(
                "this sign-in link was already used or has expired; ask for a new one "
                "(`ferry login --portal`)." if kind == "link" else
                "no portal session, or it ended (signed out or expired); sign in again.")
        _session, token, user, roles = found
        return self._principal(token, user, roles)

    def end_session(self, secret: str, kind: str = "session") -> bool:
        """End a session, or use up a link (True for the one request that did)."""
        return self._store.end_session(digest(secret), kind)

    # -- identities ---------------------------------------------------------------------
    def issue_token(self, user: str, description: str = "",
                    ttl: timedelta | None = None, scope: str = "all") -> IssuedToken:
        if self._store.user(user) is None:
            raise IdentityNotFound(f"no user {user!r}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = secrets.token_hex(6)
        # None: no expiry. A lifetime that rounds to nothing is not "none"
        expires = None if ttl is None else datetime.now(UTC).replace(microsecond=0) + \
            max(ttl, timedelta(seconds=1))
        record = self._store.add_token(token_id, user, digest(secret), description, expires,
                                       scope)
        return IssuedToken(token_id, user, secret, expires, record.created_at, scope)

    def bootstrap(self, token_file: Path | None = None) -> IssuedToken | None:
        """On a database with no users: an admin user, a ``default`` team and an admin
        token (written to ``token_file`` with mode 600). None if users exist."""
        if self._store.users():
            return None
        self._store.create_user(BOOTSTRAP_USER, is_admin=True)
        if not self._store.team_exists(DEFAULT_TEAM):
            self._store.create_team(DEFAULT_TEAM, "Created on first start.")
        self._store.set_role(BOOTSTRAP_USER, DEFAULT_TEAM, "admin")
        issued = self.issue_token(BOOTSTRAP_USER, "created on first start")
        if token_file is not None:
            write_private(token_file, issued.secret + "\n")
        self._store.audit("ferry", "bootstrap", f"user/{BOOTSTRAP_USER}", DEFAULT_TEAM, "ok", {})
        return issued
