"""The control plane's API in-process (real app, real database: SQLite and PostgreSQL) with
fakes for MLflow/BentoML/Ray: tokens, the role matrix on every mutating endpoint, the audit
log, jobs, and concurrent changes. Heavy capabilities are fakes implementing the real
interfaces, so this suite is about the control plane itself."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _control_plane import Env, env_on
from sqlalchemy import text

import ferry


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request, tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    yield from env_on(request.param, tmp_path_factory, "access")


# -- authentication -------------------------------------------------------------------------
def test_missing_unknown_revoked_and_expired_tokens_are_401_without_echoing_them(env: Env) -> None:
    r = env.http(None).get("/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert "ferry login" in r.json()["error"]["message"]
    bogus = "fy_" + "x" * 43
    r = env.http(bogus).get("/v1/models")
    assert r.status_code == 401 and bogus not in r.text
    r = env.http(None).get("/v1/models", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401

    admin = env.client(env.admin)
    issued = admin.create_token(user="viewer-a", description="short", ttl_days=1 / 86400)
    time.sleep(1.2)
    r = env.http(issued.token).get("/v1/models")
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert issued.token not in r.text
    # a lifetime that rounds to nothing is refused, never taken as "no expiry"
    for ttl in (1e-12, 0, -1):
        r = env.http(env.tokens["deployer-a"]).post("/v1/tokens", json={"ttl_days": ttl})
        assert r.status_code == 400 and "ttl_days" in r.text, (ttl, r.text)

    other = admin.create_token(user="viewer-a")
    assert env.http(other.token).get("/v1/whoami").json()["user"] == "viewer-a"
    admin.revoke_token(other.id)
    r = env.http(other.token).get("/v1/whoami")
    assert r.status_code == 401 and f"{other.id} was revoked" in r.json()["error"]["message"]
    with pytest.raises(ferry.Unauthenticated):
        env.client(other.token).models()
    assert env.http(None).get("/v1/health").status_code == 200  # liveness stays open


def test_tokens_are_stored_hashed(env: Env) -> None:
    token = env.tokens["viewer-a"]
    with env.platform.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM ferry_tokens")).fetchall()
    stored = " ".join(str(v) for row in rows for v in row)
    assert token not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored


# The role matrix of every operation is tests/integration/test_policy.py (from the table).


def test_cross_team_deploy_is_403_and_audited_as_denied(env: Env) -> None:
    with pytest.raises(ferry.Forbidden, match="deployer role in team 'alpha'") as e:
        env.deploy("deployer-b", model="alpha-model", name="b-tries-alpha")
    assert e.value.status == 403
    # the refusal is found under the resource it was about
    [event] = env.client(env.admin).audit(resource="deployment/b-tries-alpha", limit=1)
    assert (event.action, event.actor, event.outcome, event.team) == (
        "create_deployment", "deployer-b", "denied", "alpha")
    # and a team cannot take over another team's deployment name with its own model
    env.deploy("deployer-a", name="shared-name")
    with pytest.raises(ferry.Forbidden, match="deployer role in team 'alpha'"):
        env.deploy("deployer-b", model="beta-model", name="shared-name")


# -- audit and jobs -------------------------------------------------------------------------
def test_every_change_is_audited_with_its_release_transition(env: Env) -> None:
    first = env.deploy("deployer-a", name="audited")
    c = env.client(env.tokens["deployer-a"])
    second = c.deploy("alpha-model", version=2, name="audited")
    c.undeploy("audited")
    events = [e for e in env.client(env.admin).audit(resource="deployment/audited")
              if e.outcome in ("succeeded", "failed")]
    assert [(e.action, e.actor) for e in events] == [("undeploy", "deployer-a"),
                                                     ("deploy", "deployer-a"),
                                                     ("deploy", "deployer-a")]
    assert events[1].details["from_release"] == first.release_id
    assert events[1].details["to_release"] == second.release_id
    assert events[0].details["from_release"] == second.release_id
    # a team sees its own events, not another team's
    seen_by_b = env.client(env.tokens["deployer-b"]).audit(resource="deployment/audited")
    assert seen_by_b == []


def test_jobs_are_listed_with_logs_and_unknown_ids_are_404(env: Env) -> None:
    c = env.client(env.tokens["viewer-a"])
    dep = env.deploy("deployer-a", name="with-logs")
    [job] = c.jobs(kind="deploy", target="with-logs", limit=1)
    assert job.state.value == "succeeded" and job.actor == "deployer-a" and job.team == "alpha"
    assert job.result["release"]["release_id"] == dep.release_id
    assert [line.seq for line in c.job_logs(job.id)] == list(range(1, len(c.job_logs(job.id)) + 1))
    with pytest.raises(ferry.NotFound, match="no job"):
        c.job("0" * 16)
    r = env.http(env.tokens["viewer-a"]).get("/v1/jobs/not-a-job-id")
    assert r.status_code == 400


def test_concurrent_deploys_of_one_name_let_exactly_one_through(env: Env) -> None:
    gate = threading.Event()
    env.runtime.gate = gate
    http = env.http(env.tokens["deployer-a"])
    body = {"model": "alpha-model", "version": 1, "name": "raced"}
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: http.post("/v1/deployments", json=body), range(8)))
    finally:
        gate.set()
        env.runtime.gate = None
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] + [409] * 7, codes
    winner = next(r for r in answers if r.status_code == 202).json()["id"]
    assert all(winner in r.json()["error"]["message"] for r in answers if r.status_code == 409)
    assert env.platform.jobs.wait(winner, timeout=10).state == "succeeded"


def test_concurrent_membership_changes_lose_nothing(env: Env) -> None:
    admin = env.client(env.admin)
    names = [f"crowd-{i}" for i in range(12)]
    for n in names:
        admin.create_user(n)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda n: admin.set_member("beta", n, "viewer"), names))
    members = {t.name: t.members for t in admin.teams()}["beta"]
    assert set(names) <= set(members)


def test_oversized_and_malformed_bodies_are_4xx_with_error_bodies(env: Env) -> None:
    http = env.http(env.tokens["deployer-a"])
    limit = int(env.platform.settings.max_body_mb * 2**20)
    r = http.post("/v1/deployments", content=b"x" * (limit + 1),
                  headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert "FERRY_MAX_BODY_MB" in r.json()["error"]["message"]

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 2**20 + 2):
            yield b"x" * 2**20
    r = http.post("/v1/deployments", content=chunks(),
                  headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = http.post("/v1/deployments", content=b"{not json",
                  headers={"content-type": "application/json"})
    assert r.status_code in (400, 422) and "error" in r.json()
    r = http.post("/v1/deployments", json={"model": "alpha-model", "version": "one"})
    assert r.status_code == 400 and "version" in r.json()["error"]["message"]


def test_tokens_never_reach_logs_or_error_messages(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    admin = env.client(env.admin)
    issued = admin.create_token(user="viewer-a")
    admin.revoke_token(issued.id)
    with caplog.at_level(logging.DEBUG):
        bad = env.http(issued.token).get("/v1/models")
        unknown = env.http(issued.token + "x").get("/v1/models")
        env.http(env.tokens["viewer-a"]).post("/v1/deployments", json={"model": "alpha-model",
                                                                       "version": 1})
    assert bad.status_code == unknown.status_code == 401
    for secret in (issued.token, env.tokens["viewer-a"], env.admin):
        assert secret not in caplog.text
        assert secret not in bad.text + unknown.text


def test_releases_are_listed_and_unknown_ones_are_404(env: Env) -> None:
    dep = env.deploy("deployer-a", name="rel-list")
    c = env.client(env.tokens["viewer-a"])
    assert dep.release_id in [r.release_id for r in c.releases(model="alpha-model")]
    r = env.http(env.tokens["viewer-a"]).get("/v1/releases/nope-v1-x")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_revocation_through_another_process_applies_within_the_auth_cache_time(env: Env) -> None:
    from ferry_contract import Unauthenticated
    from ferry_platform.access import AccessService
    from ferry_platform.store import SqlIdentityStore

    issued = env.client(env.admin).create_token(user="viewer-a")
    here = AccessService(SqlIdentityStore(env.platform.db), cache_s=0.5)
    elsewhere = SqlIdentityStore(env.platform.db)  # another control-plane process
    assert here.authenticate(issued.token).user == "viewer-a"
    elsewhere.revoke_token(issued.id)
    assert here.authenticate(issued.token).user == "viewer-a"  # still within cache_s
    time.sleep(0.6)
    with pytest.raises(Unauthenticated, match="revoked"):
        here.authenticate(issued.token)


# -- uploads ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_archive(tmp_path_factory) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    """A real saved model (the SDK's own save and pack) and its lineage."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from ferry._registration import pack, save_model

    tmp = tmp_path_factory.mktemp("archive")
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 5, "y": [0, 0, 1, 1] * 5})
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    lineage = save_model(model, tmp / "model", name="alpha-model", training_data=frame,
                         target="y", params=None, metrics=None, code="test")
    return pack(tmp / "model", tmp / "m.tar.gz").read_bytes(), lineage.model_dump_json(by_alias=True)


def _upload(env: Env, user: str, model: str, archive: bytes, lineage: str) -> Any:
    return env.http(env.tokens[user]).post(
        f"/v1/models/{model}/logged-models", data={"lineage": lineage},
        files={"archive": ("m.tar.gz", archive, "application/gzip")})


@pytest.mark.parametrize("user", ["viewer-a", "deployer-a", "admin-a", "deployer-b",
                                  "outsider", "admin"])
def test_only_the_models_deployers_may_upload_a_logged_model(  # type: ignore[no-untyped-def]
        env: Env, model_archive, user: str) -> None:
    r = _upload(env, user, "alpha-model", *model_archive)
    if user in {"deployer-a", "admin-a", "admin"}:
        assert r.status_code == 201, r.text
        assert r.json()["model_uri"].startswith("models:/m-")
    else:
        assert r.status_code == 403 and user in r.json()["error"]["message"]
    r = _upload(env, user, "no-such-model", *model_archive)
    assert r.status_code == 404  # nothing claimed for an unknown model


def test_a_bad_upload_is_a_400_naming_the_problem(env: Env, model_archive) -> None:  # type: ignore[no-untyped-def]
    archive, lineage = model_archive
    r = _upload(env, "deployer-a", "alpha-model", b"not an archive", lineage)
    assert r.status_code == 400 and "gzip-compressed tar" in r.json()["error"]["message"]
    r = _upload(env, "deployer-a", "alpha-model", archive, lineage.replace("sklearn", "pytorch"))
    assert r.status_code == 400 and "framework 'pytorch'" in r.json()["error"]["message"]
    r = env.http(env.tokens["deployer-a"]).post("/v1/models/alpha-model/logged-models",
                                                data={"lineage": lineage})
    assert r.status_code == 400 and "archive" in r.json()["error"]["message"]


def test_body_limits_are_per_route(tmp_path) -> None:  # type: ignore[no-untyped-def]
    small = Env(f"sqlite:///{tmp_path / 'state.db'}", tmp_path, max_body_mb=1, max_model_mb=3)
    http = small.http(small.tokens["deployer-a"])
    two, four = b"x" * (2 * 2**20), b"x" * (4 * 2**20)

    r = http.post("/v1/deployments", content=two, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "FERRY_MAX_BODY_MB" in r.json()["error"]["message"]
    # the model upload takes more than the JSON routes: past the limit, refused for what it is
    r = http.post("/v1/models/alpha-model/logged-models", data={"lineage": "{}"},
                  files={"archive": ("m.tar.gz", two, "application/gzip")})
    assert r.status_code == 400, r.text
    r = http.post("/v1/models/alpha-model/logged-models", data={"lineage": "{}"},
                  files={"archive": ("m.tar.gz", four, "application/gzip")})
    assert r.status_code == 413 and "FERRY_MAX_MODEL_MB" in r.json()["error"]["message"]

    def chunks():  # type: ignore[no-untyped-def]  # no content-length: counted as read
        yield b"--b\r\ncontent-disposition: form-data; name=\"archive\"; filename=\"m\"\r\n\r\n"
        for _ in range(4):
            yield b"x" * 2**20
    r = http.post("/v1/models/alpha-model/logged-models", content=chunks(),
                  headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and r.json()["error"]["details"]["setting"] == "FERRY_MAX_MODEL_MB"


def test_the_sdk_reports_upload_progress(env: Env) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 5, "y": [0, 0, 1, 1] * 5})
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    seen: list[tuple[str, int]] = []
    logged = env.client(env.tokens["deployer-a"]).log_model(
        model, name="alpha-model", training_data=frame, target="y",
        on_progress=lambda step, percent: seen.append((step, percent)))
    assert logged.model_uri.startswith("models:/m-")
    percents = [p for _, p in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    assert "uploading the model" in seen[-1][0]
