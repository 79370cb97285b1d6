"""Teams, members, users and API tokens as the API changes them.

Every change that can change who may predict (a token issued or revoked, a member added,
removed or re-roled, a user disabled or made admin) calls ``on_access_change`` with the
teams concerned (None: every team), so the data plane's routers learn it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ferry_contract import Conflict, IdentityNotFound, InvalidRequest, TokenScope
from ferry_platform.access import AccessService, IdentityStore, IssuedToken, Principal
from ferry_platform.application._audited import Audit
from ferry_platform.application._policy import Policy, resource

AccessChanged = Callable[[list[str] | None], object]
"""``on_access_change(teams)``: the teams whose predict tokens changed (None: all)."""


class Identity:
    def __init__(self, *, policy: Policy, access: AccessService, audit: Audit,
                 store: IdentityStore, max_token_ttl_days: float,
                 on_access_change: AccessChanged | None = None,
                 session_ttl: timedelta = timedelta(hours=12),
                 link_ttl: timedelta = timedelta(minutes=5)) -> None:
        self._session_ttl = session_ttl
        self._link_ttl = link_ttl
        self._policy = policy
        self._access = access
        self._audit = audit
        self._store = store
        self._max_ttl = max_token_ttl_days
        self.on_access_change: AccessChanged = on_access_change or (lambda _teams: None)

    # -- reads --------------------------------------------------------------------------
    def team_names(self) -> list[str]:
        return self._access.team_names()

    def team(self, name: str) -> tuple[str, dict[str, str]]:
        """(description, members: user -> role)."""
        found = dict(self._store.teams())
        if name not in found:
            raise IdentityNotFound(f"no team {name!r}; teams: {sorted(found)}")
        return found[name], self._store.members(name)

    def user_names(self) -> list[str]:
        return [u.name for u in self._store.users()]

    def user(self, name: str) -> tuple[Any, dict[str, str]]:
        """(the user's record, its roles: team -> role)."""
        record = self._store.user(name)
        if record is None:
            raise IdentityNotFound(f"no user {name!r}; list them with `ferry users list`")
        return record, self._store.roles(name)

    # -- teams --------------------------------------------------------------------------
    def create_team(self, name: str, description: str, who: Principal) -> None:
        self._policy.admit(who, "create_team", resource("team", name))
        self._store.create_team(name, description)
        self._audit(who, "create_team", resource("team", name), [name])

    def _team(self, team: str, action: str, who: Principal) -> None:
        if not self._store.team_exists(team):
            raise IdentityNotFound(f"no team {team!r}; teams: {self._access.team_names()}")
        self._policy.require(who, action, resource=resource("team", team), team=team)

    def set_member(self, team: str, user: str, role: str, who: Principal) -> None:
        """Add ``user`` to ``team`` with ``role``, or change the role (team admins)."""
        self._team(team, "set_member", who)
        before = self._store.members(team).get(user)
        self._store.set_role(user, team, role)
        self._audit(who, "set_member", resource("team", team), [team],
                    details={"user": user, "from_role": before, "role": role})
        self.on_access_change([team])

    def remove_member(self, team: str, user: str, who: Principal) -> None:
        self._team(team, "remove_member", who)
        self._store.remove_member(user, team)
        self._audit(who, "remove_member", resource("team", team), [team],
                    details={"user": user})
        self.on_access_change([team])

    # -- users --------------------------------------------------------------------------
    def create_user(self, name: str, is_admin: bool, who: Principal) -> None:
        self._policy.admit(who, "create_user", resource("user", name))
        self._store.create_user(name, is_admin)
        self._audit(who, "create_user", resource("user", name), [None],
                    details={"is_admin": is_admin})

    def update_user(self, name: str, who: Principal, *, is_admin: bool | None = None,
                    disabled: bool | None = None) -> None:
        """Grant or take platform admin, disable or enable; never the last active admin."""
        self._policy.admit(who, "update_user", resource("user", name))
        user = self._store.user(name)
        if user is None:
            raise IdentityNotFound(f"no user {name!r}; list them with `ferry users list`")
        losing = user.is_admin and user.disabled_at is None and (
            is_admin is False or disabled is True)
        if losing and not [u for u in self._store.users()
                           if u.is_admin and u.disabled_at is None and u.name != name]:
            raise Conflict(f"{name!r} is the last active platform admin; make another user "
                           "admin first", details={"user": name})
        self._store.set_user(name, is_admin=is_admin, disabled=disabled)
        capped: list[str] = []
        if user.is_admin and is_admin is False:
            # A demoted admin keeps no token that outlives the platform's maximum lifetime.
            capped = self._store.cap_token_expiry(name, timedelta(days=self._max_ttl))
        self._audit(who, "update_user", resource("user", name), [None],
                    details={"is_admin": is_admin, "disabled": disabled,
                             **({"tokens_capped": capped} if capped else {})})
        self.on_access_change(None if (user.is_admin or is_admin) else self._teams_of(name))

    # -- tokens -------------------------------------------------------------------------
    def create_token(self, who: Principal, *, user: str | None, description: str,
                     ttl_days: float | None, scope: TokenScope) -> IssuedToken:
        """A new token for the caller (platform admins: for anyone). Lifetimes are capped
        at the platform's maximum unless the token's holder is a platform admin: only
        platform admins hold tokens that never expire, whoever issues them."""
        owner = user or who.user
        self._policy.require(who, "create_token", resource=resource("user", owner),
                             owner=owner)
        if who.scope == "predict" and scope is not TokenScope.predict:
            raise InvalidRequest("a predict-only token can only create predict-only tokens")
        holder = self._store.user(owner)
        if holder is None:
            raise IdentityNotFound(f"no user {owner!r}; list them with `ferry users list`")
        if not holder.is_admin:  # the holder's rule, whoever issues the token
            if ttl_days is None:
                raise InvalidRequest(
                    "tokens without expiry are for platform admins; give ttl_days (at most "
                    f"{self._max_ttl:g})", details={"ttl_days": None, "max": self._max_ttl})
            if ttl_days > self._max_ttl:
                raise InvalidRequest(
                    f"ttl_days {ttl_days:g} is over the platform's maximum of "
                    f"{self._max_ttl:g} days (FERRY_TOKEN_MAX_TTL_DAYS); ask for less",
                    details={"ttl_days": ttl_days, "max": self._max_ttl})
        ttl = None if ttl_days is None else timedelta(days=ttl_days)
        issued = self._access.issue_token(owner, description, ttl, scope.value)
        self._audit(who, "create_token", resource("token", issued.id), [None],
                    details={"user": owner, "scope": scope.value,
                             "expires_at": str(issued.expires_at)})
        self.on_access_change(self._teams_of(owner))
        return issued

    def tokens(self, who: Principal) -> list[object]:
        """The caller's tokens (platform admins: everyone's). Never the secrets."""
        return list(self._store.tokens(None if who.is_admin else who.user))

    def revoke_token(self, token_id: str, who: Principal) -> None:
        self._policy.admit(who, "revoke_token", resource("token", token_id))
        record = self._store.token(token_id)
        if record is not None and record.user != who.user and not who.is_admin:
            # Someone else's token: refused and audited, yet answered as if there were none,
            # so token ids and their owners are not disclosed.
            self._access.audit(who, "revoke_token", resource("token", token_id), None,
                               "denied", {"needs": "platform admin"})
            record = None
        if record is None:
            raise IdentityNotFound(f"no token {token_id!r} of yours; list them with "
                                   "`ferry tokens list`")
        self._store.revoke_token(token_id)
        self._audit(who, "revoke_token", resource("token", token_id), [None],
                    details={"user": record.user})
        self.on_access_change(self._teams_of(record.user))

    def _teams_of(self, user: str) -> list[str] | None:
        """The teams whose predict tokens a change of ``user``'s tokens touches (None:
        every team, for a platform admin)."""
        found = self._store.user(user)
        if found is None or found.is_admin:
            return None
        return sorted(self._store.roles(user))

    # -- portal sessions ----------------------------------------------------------------
    # The portal exchanges an API token for a server-side session; every page and action
    # then acts as that token, through the same services and the same policy as the API.
    def sign_in(self, token: str | None) -> tuple[str, datetime, Principal]:
        """Open a portal session for an API token (401 for a token that is not valid,
        403 for a predict-only one); its secret, its end, and who it is."""
        who = self._access.authenticate(token)
        return self._open(who, "portal.sign_in", {"via": "token"})

    def _open(self, who: Principal, action: str,
              details: dict[str, Any]) -> tuple[str, datetime, Principal]:
        self._policy.admit(who, "create_sign_in_link", resource("user", who.user))
        secret, until = self._access.open_session(who, "session", self._session_ttl)
        self._audit(who, action, resource("user", who.user), [None],
                    details={**details, "token": who.token_id, "until": until.isoformat()})
        return secret, until, who

    def sign_in_link(self, who: Principal) -> tuple[str, datetime]:
        """A one-time sign-in link's secret for the caller's own token (used once, within
        the link's lifetime)."""
        self._policy.admit(who, "create_sign_in_link", resource("user", who.user))
        secret, until = self._access.open_session(who, "link", self._link_ttl)
        self._audit(who, "create_sign_in_link", resource("user", who.user), [None],
                    details={"token": who.token_id, "until": until.isoformat()})
        return secret, until

    def link_holder(self, link: str | None) -> Principal:
        """Whose sign-in link this is (401 if used or expired), without using it."""
        return self._access.session(link, "link")

    def redeem_link(self, link: str | None) -> tuple[str, datetime, Principal]:
        """Use a one-time sign-in link: a session for its token (401 once used)."""
        who = self._access.session(link, "link")
        if not link or not self._access.end_session(link, "link"):
            self._access.session(None, "link")  # raises: used meanwhile
        return self._open(who, "portal.sign_in", {"via": "link"})

    def portal_caller(self, session: str | None) -> Principal:
        """The caller of a portal session (401 once it ended, or its token did)."""
        return self._access.session(session)

    def sign_out(self, session: str, who: Principal) -> None:
        if self._access.end_session(session):
            self._audit(who, "portal.sign_out", resource("user", who.user), [None],
                        details={"token": who.token_id})
