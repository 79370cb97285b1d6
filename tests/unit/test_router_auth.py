"""The data plane's token check (what each router replica runs per request), without Ray."""

from __future__ import annotations

import hashlib
import time

from ferry_platform.serving import RouterAccess
from ferry_platform.serving._auth import TokenCheck, bearer_token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check(access: RouterAccess) -> TokenCheck:
    c = TokenCheck()
    c.configure(access.config())
    return c


def test_a_router_without_access_lets_nobody_through() -> None:
    c = TokenCheck()
    c.configure(None)
    assert c.refusal("Bearer fy_anything", "churn") is not None
    assert c.refusal(None, "churn") is not None


def test_only_the_pushed_tokens_pass_and_expired_ones_do_not() -> None:
    now = time.time()
    c = check(RouterAccess(tokens={_digest("fy_ok"): None, _digest("fy_later"): now + 60,
                                   _digest("fy_gone"): now - 1}))
    assert c.refusal("Bearer fy_ok", "churn") is None
    assert c.refusal("bearer fy_later", "churn") is None  # the scheme is case-insensitive
    assert "expired" in (c.refusal("Bearer fy_gone", "churn") or "")
    assert "may not predict on 'churn'" in (c.refusal("Bearer fy_other", "churn") or "")
    for malformed in (None, "", "fy_ok", "Basic fy_ok", "Bearer ", "Bearer"):
        assert "needs an API token" in (c.refusal(malformed, "churn") or ""), malformed


def test_a_new_push_revokes_at_once_even_for_a_token_seen_before() -> None:
    c = check(RouterAccess(tokens={_digest("fy_ok"): None}))
    assert c.refusal("Bearer fy_ok", "churn") is None
    c.configure(RouterAccess(tokens={}).config())
    assert c.refusal("Bearer fy_ok", "churn") is not None


def test_anonymous_lets_requests_without_a_token_through() -> None:
    c = check(RouterAccess(anonymous=True))
    assert c.refusal(None, "churn") is None
    assert c.refusal("Bearer whatever", "churn") is None


def test_bearer_parsing() -> None:
    assert bearer_token("Bearer  fy_x ") == "fy_x"
    assert bearer_token("Token fy_x") is None
