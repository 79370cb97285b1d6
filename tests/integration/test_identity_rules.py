"""The rules of identities through the real control-plane app (SQLite): token lifetimes are
capped and only platform admins hold tokens that never expire (a demoted admin's are
capped); a disabled user is refused
on every call until enabled again; an admin can be demoted, never the last active one;
nobody but a platform admin revokes another user's token, and such an attempt is audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from _control_plane import Env, env_on

import ferry


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from env_on("sqlite", tmp_path_factory, "identity")


def test_token_lifetimes_are_capped_and_only_admins_hold_tokens_that_never_expire(env: Env) -> None:
    deployer = env.client(env.tokens["deployer-a"])
    cap = env.platform.settings.token_max_ttl_days
    with pytest.raises(ferry.InvalidRequest, match="without expiry are for platform admins"):
        deployer.create_token(ttl_days=None)
    with pytest.raises(ferry.InvalidRequest, match=f"over the platform's maximum of {cap:g}"):
        deployer.create_token(ttl_days=cap + 1)
    issued = deployer.create_token(ttl_days=cap)
    assert issued.expires_at is not None
    assert abs(issued.expires_at - (datetime.now(UTC) + timedelta(days=cap))) < timedelta(minutes=5)
    assert env.http(issued.token).get("/v1/whoami").json()["user"] == "deployer-a"

    forever = env.client(env.admin).create_token(ttl_days=None)
    assert forever.expires_at is None
    # the holder's rule applies, whoever issues: not even an admin gives a non-admin a token
    # that never expires, or one past the maximum
    with pytest.raises(ferry.InvalidRequest, match="without expiry are for platform admins"):
        env.client(env.admin).create_token(user="viewer-a", ttl_days=None)
    with pytest.raises(ferry.InvalidRequest, match=f"over the platform's maximum of {cap:g}"):
        env.client(env.admin).create_token(user="viewer-a", ttl_days=cap * 10)
    with pytest.raises(ferry.IdentityNotFound, match="no user 'nobody-at-all'"):
        env.client(env.admin).create_token(user="nobody-at-all")


def test_a_demoted_admin_keeps_no_token_past_the_maximum_lifetime(env: Env) -> None:
    admin = env.client(env.admin)
    cap = env.platform.settings.token_max_ttl_days
    admin.create_user("admin-for-now", is_admin=True)
    forever = admin.create_token(user="admin-for-now", ttl_days=None)
    long = admin.create_token(user="admin-for-now", ttl_days=cap * 5)
    short = admin.create_token(user="admin-for-now", ttl_days=1)
    admin.update_user("admin-for-now", is_admin=False)

    expiry = {t.id: t.expires_at for t in admin.tokens()}
    limit = datetime.now(UTC) + timedelta(days=cap)
    for issued in (forever, long):
        assert expiry[issued.id] is not None
        assert abs(expiry[issued.id] - limit) < timedelta(minutes=5)
    assert expiry[short.id] == short.expires_at  # already within the maximum: unchanged
    assert env.http(forever.token).get("/v1/whoami").status_code == 200  # still valid now
    change = admin.audit(action="update_user", resource="user/admin-for-now")[0]
    assert sorted(change.details["tokens_capped"]) == sorted([forever.id, long.id])


def test_a_disabled_user_is_refused_on_every_call_until_enabled(env: Env) -> None:
    admin = env.client(env.admin)
    admin.create_user("to-disable")
    admin.set_member("alpha", "to-disable", "deployer")
    token = admin.create_token(user="to-disable").token
    assert env.http(token).get("/v1/models").status_code == 200

    admin.update_user("to-disable", disabled=True)
    for method, path in (("GET", "/v1/models"), ("GET", "/v1/whoami"),
                         ("POST", "/v1/tokens"), ("GET", "/v1/deployments")):
        r = env.http(token).request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.text)
        assert "disabled" in r.json()["error"]["message"]
    with pytest.raises(ferry.Unauthenticated, match="disabled"):
        env.client(token).create_token()

    admin.update_user("to-disable", disabled=False)
    assert env.http(token).get("/v1/whoami").json()["user"] == "to-disable"


def test_an_admin_can_be_demoted_but_never_the_last_active_one(env: Env) -> None:
    admin = env.client(env.admin)
    admin.create_user("second-admin", is_admin=True)
    second = env.client(admin.create_token(user="second-admin").token)
    second.create_user("made-by-second")  # a platform admin's operation

    admin.update_user("second-admin", is_admin=False)
    with pytest.raises(ferry.Forbidden, match="platform admin"):
        second.create_user("refused")

    # "admin" is now the only active platform admin: neither demoted nor disabled
    with pytest.raises(ferry.Conflict, match="last active platform admin"):
        admin.update_user("admin", is_admin=False)
    with pytest.raises(ferry.Conflict, match="last active platform admin"):
        admin.update_user("admin", disabled=True)
    assert env.http(env.admin).get("/v1/whoami").json()["is_admin"] is True

    # with another admin, the first may step down (and the other may not be disabled then)
    admin.update_user("second-admin", is_admin=True)
    admin.update_user("admin", is_admin=False)
    with pytest.raises(ferry.Conflict, match="last active platform admin"):
        second.update_user("second-admin", disabled=True)
    second.update_user("admin", is_admin=True)  # restored for the other tests


def test_nobody_but_a_platform_admin_revokes_another_users_token(env: Env) -> None:
    admin = env.client(env.admin)
    victim = admin.create_token(user="viewer-a")
    deployer = env.client(env.tokens["deployer-a"])
    with pytest.raises(ferry.IdentityNotFound) as refused:
        deployer.revoke_token(victim.id)
    with pytest.raises(ferry.IdentityNotFound) as missing:
        deployer.revoke_token("0123456789ab")
    # someone else's token is answered exactly as a token that does not exist
    assert str(refused.value).replace(victim.id, "<id>") == \
        str(missing.value).replace("0123456789ab", "<id>")
    assert env.http(victim.token).get("/v1/whoami").status_code == 200  # still valid
    denied = admin.audit(actor="deployer-a", action="revoke_token")
    assert [(e.outcome, e.resource) for e in denied][:1] == [("denied", f"token/{victim.id}")]

    admin.revoke_token(victim.id)
    assert env.http(victim.token).get("/v1/whoami").status_code == 401


def test_a_revocation_whose_push_failed_is_repaired_by_the_next_resync(env: Env) -> None:
    import hashlib

    env.deploy("deployer-a", name="resync-me")
    issued = env.client(env.admin).create_token(user="viewer-a")
    digest = hashlib.sha256(issued.token.encode()).hexdigest()
    assert digest in env.runtime.access["resync-me"].tokens
    real_push = env.runtime.set_access

    def unreachable(name, access):  # type: ignore[no-untyped-def]
        raise ferry.PlatformUnavailable("Ray is not reachable from this process")

    env.runtime.set_access = unreachable  # type: ignore[method-assign]
    try:
        env.client(env.admin).revoke_token(issued.id)  # committed despite the failed push
    finally:
        env.runtime.set_access = real_push  # type: ignore[method-assign]
    assert env.http(issued.token).get("/v1/whoami").status_code == 401
    assert digest in env.runtime.access["resync-me"].tokens  # the router still admits it

    assert env.platform.resync_access() == ["resync-me"]
    assert digest not in env.runtime.access["resync-me"].tokens
    assert env.platform.resync_access() == []  # in sync: nothing pushed again
