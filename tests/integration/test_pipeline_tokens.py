"""A pipeline run's token (scope ``pipeline``) may register, evaluate and start a canary,
never promote, move the champion, override or change a gate, deploy or roll back; what it
did is audited under its token id (the run's links are read back from there)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from _control_plane import Env, env_on

from ferry_contract import Forbidden


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from env_on("sqlite", tmp_path_factory, "pipeline-tokens")


@pytest.fixture(scope="module")
def pipeline_token(env: Env) -> Any:
    env.deploy("deployer-a", name="m-pl")
    return env.platform.access.issue_token("deployer-a", "a pipeline run",
                                           ttl=timedelta(minutes=10), scope="pipeline")


@pytest.mark.parametrize("call", [
    lambda c: c.set_champion("alpha-model", 2),
    lambda c: c.set_gate("alpha-model", tolerance=0.5),
    lambda c: c.rollout("m-pl", version=2, ab=50, sticky_key="x"),
    lambda c: c.rollout("m-pl", version=2, canary=10, override_reason="trust me, it is fine"),
    lambda c: c.deploy("alpha-model", version=2, name="m-pl"),
    lambda c: c.rollback("m-pl"),
    lambda c: c.create_token(description="escape"),
], ids=["champion", "gate", "ab", "override", "deploy", "rollback", "token"])
def test_a_pipeline_token_never_promotes(env: Env, pipeline_token: Any, call: Any) -> None:
    with pytest.raises(Forbidden, match="pipeline|canary"):
        call(env.client(pipeline_token.secret))


def test_a_pipeline_token_starts_a_canary_audited_under_its_id(env: Env,
                                                               pipeline_token: Any) -> None:
    c = env.client(pipeline_token.secret)
    c.rollout("m-pl", version=2, canary=10)
    events = env.identity.audit_events(actor="deployer-a", action="rollout")
    assert events and events[0].details["token"] == pipeline_token.id
    assert events[0].outcome == "succeeded"


@pytest.mark.parametrize("cron", ["99 99 * * *", "0 0 30 2 *", "*/0 * * * *"])
def test_a_schedule_that_never_fires_is_refused_before_it_is_saved(env: Env, cron: str) -> None:
    """A cron with five fields that names no time (minute 99, 30 February, a step of 0) is
    a 400 naming it, and nothing is saved: once saved, every list and every tick failed."""
    http = env.http(env.admin)
    r = http.put("/v1/pipelines/p-never", json={"module": "team_pipelines.nightly:retrain",
                                                "team": "alpha", "schedule": cron})
    assert r.status_code == 400 and cron in r.text, r.text
    assert http.get("/v1/pipelines/p-never").status_code == 404
    r = http.put("/v1/features/views/stats/schedule", json={"cron": cron})
    assert r.status_code in (400, 404) and "Traceback" not in r.text, r.text
    assert http.get("/v1/pipelines").status_code == 200
    assert http.get("/v1/features/schedules").status_code == 200
    assert env.platform.app.pipelines.tick() == []


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/batch-jobs", {"model": "alpha-model", "source": "/etc", "dest": "/tmp/x"}),
    ("POST", "/v1/features/apply", {}),
    ("POST", "/v1/features/materialize", {"start": "2026-01-01T00:00:00Z",
                                          "end": "2026-01-02T00:00:00Z"}),
    ("PUT", "/v1/features/views/stats/schedule", {"cron": "* * * * *"}),
    ("POST", "/v1/models/alpha-model/eval-sets", {"rows": [{"x": 1, "y": 0}], "label": "y"}),
    ("POST", "/v1/deployments/m-pl/abort", {}),
    ("POST", "/v1/deployments/m-pl/outcomes", {"outcomes": [{"request_id": "r", "label": 1}]}),
], ids=["batch", "apply", "materialize", "schedule", "eval-set", "abort", "outcomes"])
def test_a_pipeline_token_makes_no_change_outside_its_allow_list(
        env: Env, pipeline_token: Any, method: str, path: str, body: dict[str, Any]) -> None:
    """Reads, training sets, registration, evaluation and a canary only: no batch job
    (another team's files), no feature or eval-set change (the gate's data), no abort."""
    r = env.http(pipeline_token.secret).request(method, path, json=body)
    assert r.status_code == 403 and "pipeline run's" in r.text, (r.status_code, r.text)
