"""Users, teams, roles, API tokens (stored as SHA-256 digests), model ownership and the
audit log, in the control plane's database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from ferry_contract import Conflict, IdentityNotFound
from ferry_platform.core import REDACTOR
from ferry_platform.store._db import Database
from ferry_platform.store._tables import (
    AuditEvent,
    Membership,
    ModelOwner,
    PortalSession,
    Team,
    Token,
    User,
    now,
)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user: str
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    scope: str = "all"


@dataclass(frozen=True)
class UserRecord:
    name: str
    is_admin: bool
    disabled_at: datetime | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    resource: str
    team: str | None
    outcome: str
    details: dict[str, Any]


@dataclass(frozen=True)
class SessionRecord:
    """A portal session (or one-time sign-in link): whose token it carries, until when."""

    id: str  # the SHA-256 of its secret
    kind: str
    token_id: str
    user: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None


def _token(row: Token) -> TokenRecord:
    return TokenRecord(row.id, row.user, row.description, row.created_at, row.expires_at,
                       row.revoked_at, row.scope)


def _user(row: User) -> UserRecord:
    return UserRecord(row.name, row.is_admin, row.disabled_at)


class SqlIdentityStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.generation = 0  # bumped by every change made through this process

    # -- users and teams ----------------------------------------------------------------
    def create_user(self, name: str, is_admin: bool = False) -> None:
        try:
            with self.db.session() as s, s.begin():
                s.add(User(name=name, is_admin=is_admin, created_at=now()))
        except IntegrityError:
            raise Conflict(f"user {name!r} already exists") from None

    def user(self, name: str) -> UserRecord | None:
        with self.db.session() as s:
            row = s.get(User, name)
            return _user(row) if row else None

    def users(self) -> list[UserRecord]:
        with self.db.session() as s:
            return [_user(r) for r in s.scalars(select(User).order_by(User.name))]

    def set_user(self, name: str, *, is_admin: bool | None = None,
                 disabled: bool | None = None) -> UserRecord:
        """Grant or take platform admin; disable (every token refused) or enable."""
        self.generation += 1
        with self.db.session() as s, s.begin():
            row = s.get(User, name)
            if row is None:
                raise IdentityNotFound(f"no user {name!r}")
            if is_admin is not None:
                row.is_admin = is_admin
            if disabled is not None:
                row.disabled_at = (row.disabled_at or now()) if disabled else None
            record = _user(row)
        self.generation += 1
        return record

    def create_team(self, name: str, description: str = "") -> None:
        try:
            with self.db.session() as s, s.begin():
                s.add(Team(name=name, description=description, created_at=now()))
        except IntegrityError:
            raise Conflict(f"team {name!r} already exists") from None

    def teams(self) -> list[tuple[str, str]]:
        with self.db.session() as s:
            return [(r.name, r.description) for r in s.scalars(select(Team).order_by(Team.name))]

    def team_exists(self, name: str) -> bool:
        with self.db.session() as s:
            return s.get(Team, name) is not None

    def set_role(self, user: str, team: str, role: str) -> None:
        self.generation += 1
        with self.db.session() as s, s.begin():
            if s.get(User, user) is None:
                raise IdentityNotFound(f"no user {user!r}; create it first")
            if s.get(Team, team) is None:
                raise IdentityNotFound(f"no team {team!r}; create it first")
            row = s.get(Membership, (user, team))
            if row is None:
                s.add(Membership(user=user, team=team, role=role))
            else:
                row.role = role
        self.generation += 1  # again after the commit: nothing cached in between survives

    def remove_member(self, user: str, team: str) -> None:
        self.generation += 1
        with self.db.session() as s, s.begin():
            row = s.get(Membership, (user, team))
            if row is None:
                raise IdentityNotFound(f"{user!r} is not a member of {team!r}")
            s.delete(row)
        self.generation += 1

    def roles(self, user: str) -> dict[str, str]:
        with self.db.session() as s:
            return {m.team: m.role for m in s.scalars(
                select(Membership).where(Membership.user == user))}

    def members(self, team: str) -> dict[str, str]:
        with self.db.session() as s:
            return {m.user: m.role for m in s.scalars(
                select(Membership).where(Membership.team == team).order_by(Membership.user))}

    # -- tokens -------------------------------------------------------------------------
    def add_token(self, token_id: str, user: str, digest: str, description: str,
                  expires_at: datetime | None, scope: str = "all") -> TokenRecord:
        with self.db.session() as s, s.begin():
            row = Token(id=token_id, user=user, digest=digest, description=description,
                        created_at=now(), expires_at=expires_at, scope=scope)
            s.add(row)
        return _token(row)

    def credentials(self, digest: str) -> tuple[TokenRecord, UserRecord, dict[str, str]] | None:
        """A token by digest with its user and roles: one query (Core, not the ORM), the
        path every authenticated request takes."""
        t, u, m = Token.__table__, User.__table__, Membership.__table__
        q = (select(t.c.id, t.c.user, t.c.description, t.c.created_at, t.c.expires_at,
                    t.c.revoked_at, t.c.scope, u.c.is_admin, u.c.disabled_at, m.c.team,
                    m.c.role)
             .select_from(t.join(u, u.c.name == t.c.user)
                          .outerjoin(m, m.c.user == t.c.user))
             .where(t.c.digest == digest))
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return None
        first = rows[0]
        record = TokenRecord(first.id, first.user, first.description, first.created_at,
                             first.expires_at, first.revoked_at, first.scope)
        user = UserRecord(first.user, bool(first.is_admin), first.disabled_at)
        return record, user, {r.team: r.role for r in rows if r.team}

    def predict_digests(self, team: str | None) -> dict[str, float | None]:
        """Digest -> expiry (epoch seconds, None: never) of every live token that may
        predict on ``team``'s deployments: its members' (any role, any scope) and
        platform admins', of users not disabled, neither revoked nor expired."""
        t, u, m = Token.__table__, User.__table__, Membership.__table__
        allowed: Any = u.c.is_admin.is_(True)
        if team:
            allowed = allowed | t.c.user.in_(select(m.c.user).where(m.c.team == team))
        q = (select(t.c.digest, t.c.expires_at)
             .select_from(t.join(u, u.c.name == t.c.user))
             .where(allowed, t.c.revoked_at.is_(None), u.c.disabled_at.is_(None),
                    (t.c.expires_at.is_(None)) | (t.c.expires_at > now())))
        with self.db.engine.connect() as conn:
            return {row.digest: (row.expires_at.timestamp() if row.expires_at else None)
                    for row in conn.execute(q)}

    def token(self, token_id: str) -> TokenRecord | None:
        with self.db.session() as s:
            row = s.get(Token, token_id)
            return _token(row) if row else None

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        q = select(Token).order_by(Token.created_at)
        if user is not None:
            q = q.where(Token.user == user)
        with self.db.session() as s:
            return [_token(r) for r in s.scalars(q)]

    def cap_token_expiry(self, user: str, longest: timedelta) -> list[str]:
        """Bring every live token of ``user`` that expires later than ``longest`` from now
        (or never) down to that; the ids of the tokens changed."""
        until = now() + longest
        t = cast(Table, Token.__table__)
        later = (t.c.user == user) & t.c.revoked_at.is_(None) & (
            t.c.expires_at.is_(None) | (t.c.expires_at > until))
        self.generation += 1
        with self.db.engine.begin() as conn:
            ids = [r.id for r in conn.execute(select(t.c.id).where(later))]
            if ids:
                conn.execute(update(t).where(t.c.id.in_(ids)).values(expires_at=until))
        self.generation += 1
        return sorted(ids)

    def revoke_token(self, token_id: str) -> None:
        self.generation += 1
        with self.db.session() as s, s.begin():
            s.execute(update(Token).where(Token.id == token_id, Token.revoked_at.is_(None))
                      .values(revoked_at=now()))
        self.generation += 1

    # -- portal sessions and sign-in links ----------------------------------------------
    def add_session(self, digest: str, kind: str, token_id: str, user: str,
                    expires_at: datetime) -> SessionRecord:
        with self.db.session() as s, s.begin():
            row = PortalSession(id=digest, kind=kind, token_id=token_id, user=user,
                                created_at=now(), expires_at=expires_at)
            s.add(row)
        return SessionRecord(digest, kind, token_id, user, row.created_at, expires_at)

    def session_credentials(self, digest: str, kind: str = "session") -> tuple[
            SessionRecord, TokenRecord, UserRecord, dict[str, str]] | None:
        """A live session (not ended, not past its expiry) with its token, user and roles:
        one query, the path every portal request takes. None if there is none."""
        p, t, u, m = (PortalSession.__table__, Token.__table__, User.__table__,
                      Membership.__table__)
        q = (select(p.c.id, p.c.kind, p.c.token_id, p.c.user, p.c.created_at,
                    p.c.expires_at, t.c.description, t.c.created_at.label("t_created"),
                    t.c.expires_at.label("t_expires"), t.c.revoked_at, t.c.scope,
                    u.c.is_admin, u.c.disabled_at, m.c.team, m.c.role)
             .select_from(p.join(t, t.c.id == p.c.token_id).join(u, u.c.name == t.c.user)
                          .outerjoin(m, m.c.user == t.c.user))
             .where(p.c.id == digest, p.c.kind == kind, p.c.ended_at.is_(None),
                    p.c.expires_at > now()))
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            return None
        f = rows[0]
        session = SessionRecord(f.id, f.kind, f.token_id, f.user, f.created_at, f.expires_at)
        token = TokenRecord(f.token_id, f.user, f.description, f.t_created, f.t_expires,
                            f.revoked_at, f.scope)
        return session, token, UserRecord(f.user, bool(f.is_admin), f.disabled_at), \
            {r.team: r.role for r in rows if r.team}

    def end_session(self, digest: str, kind: str = "session") -> bool:
        """End a live session, or use up a one-time link (atomically: of two requests
        redeeming one link, one gets True)."""
        with self.db.session() as s, s.begin():
            done = s.execute(update(PortalSession).where(
                PortalSession.id == digest, PortalSession.kind == kind,
                PortalSession.ended_at.is_(None), PortalSession.expires_at > now())
                .values(ended_at=now()))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    # -- ownership ----------------------------------------------------------------------
    def model_owner(self, model: str) -> str | None:
        with self.db.session() as s:
            row = s.get(ModelOwner, model)
            return row.team if row else None

    def claim_model(self, model: str, team: str) -> str:
        """Record ``team`` as the model's owner unless it has one; return the owner."""
        try:
            with self.db.session() as s, s.begin():
                if s.get(ModelOwner, model) is None:
                    s.add(ModelOwner(model=model, team=team))
        except IntegrityError:
            pass  # claimed concurrently: the first claim wins
        owner = self.model_owner(model)
        assert owner is not None
        return owner

    def forget_model(self, model: str) -> None:
        with self.db.session() as s, s.begin():
            s.execute(delete(ModelOwner).where(ModelOwner.model == model))

    # -- audit --------------------------------------------------------------------------
    def audit(self, actor: str, action: str, resource: str, team: str | None, outcome: str,
              details: dict[str, Any] | None = None) -> None:
        with self.db.session() as s, s.begin():
            s.add(AuditEvent(at=now(), actor=actor, action=action, resource=REDACTOR(resource),
                             team=team, outcome=outcome, details=REDACTOR.value(details or {})))

    def audit_events(self, *, actor: str | None = None, resource: str | None = None,
                     team: str | None = None, teams: list[str] | None = None,
                     action: str | None = None, limit: int = 100,
                     before_id: int | None = None,
                     after_id: int | None = None) -> list[AuditRecord]:
        q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        for col, value in ((AuditEvent.actor, actor), (AuditEvent.resource, resource),
                           (AuditEvent.team, team), (AuditEvent.action, action)):
            if value is not None:
                q = q.where(col == value)
        if teams is not None:
            q = q.where(AuditEvent.team.in_(teams))
        if before_id is not None:
            q = q.where(AuditEvent.id < before_id)
        if after_id is not None:  # the page before: oldest first here, reversed below
            q = q.where(AuditEvent.id > after_id).order_by(None).order_by(AuditEvent.id)
        with self.db.session() as s:
            found = [AuditRecord(r.id, r.at, r.actor, r.action, r.resource, r.team, r.outcome,
                                 dict(r.details)) for r in s.scalars(q)]
        return sorted(found, key=lambda r: -r.id) if after_id is not None else found
