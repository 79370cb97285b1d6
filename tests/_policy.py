"""The policy table read independently of the code under test: who each test caller is,
and what the table grants them."""

from __future__ import annotations

from ferry_platform.application import Rule, Scope

RANK = {"viewer": 0, "deployer": 1, "admin": 2}

# The callers of tests/_control_plane.Env: team -> role, platform admin, token scope.
CALLERS: dict[str, tuple[dict[str, str], bool, str]] = {
    "viewer-a": ({"alpha": "viewer"}, False, "all"),
    "deployer-a": ({"alpha": "deployer"}, False, "all"),
    "admin-a": ({"alpha": "admin"}, False, "all"),
    "deployer-b": ({"beta": "deployer"}, False, "all"),
    "outsider": ({}, False, "all"),
    "predict-a": ({"alpha": "deployer"}, False, "predict"),  # deployer-a's predict-only token
    "admin": ({"default": "admin"}, True, "all"),
}


def expected_allowed(rule: Rule, caller: str, teams: tuple[str, ...] = ("alpha",),
                     owner: str | None = None) -> bool:
    """Whether the table lets ``caller`` act on a resource of ``teams`` (for ``self``
    rules: one of ``owner``'s; None: the caller's own)."""
    roles, platform_admin, scope = CALLERS[caller]
    if rule.scope is Scope.open:
        return True
    if scope == "predict" and not rule.predict_token:
        return False
    if rule.scope is Scope.authenticated:
        return True
    if platform_admin:
        return True
    if rule.scope is Scope.platform:
        return False
    if rule.scope is Scope.self:
        return owner is None or owner == caller
    assert rule.role is not None
    if rule.scope is Scope.any_team:
        return any(RANK[r] >= RANK[rule.role] for r in roles.values())
    return all(t in roles and RANK[roles[t]] >= RANK[rule.role] for t in teams)
