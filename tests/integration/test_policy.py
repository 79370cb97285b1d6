"""Every operation of the API, called by every kind of caller, answers what the policy
table says: the rule each expectation comes from is ``ferry_platform.application.POLICY``
(which docs/security.md renders), read here by a small evaluator of its own rather than
by the code under test. Allowed: never 401/403/5xx. Refused: exactly 403 ``forbidden``,
saying what is needed. No token: exactly 401, whatever else is wrong with the request.

Runs on the real app and database with fakes for MLflow/BentoML/Ray (tests/_control_plane.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from _control_plane import Env
from _policy import CALLERS, expected_allowed

from ferry_platform.application import NOT_ROUTES, POLICY
from ferry_server._app import openapi_spec


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    teams: tuple[str, ...] = ("alpha",)  # the teams of the resource(s) the call is about
    owner: str | None = None  # for "self" rules: whose resource it is
    files: dict[str, Any] | None = None  # a multipart body instead of JSON
    prepare: Callable[[Env, str], dict[str, Any]] | None = None  # state it needs; path args


def _rollout(env: Env, _who: str) -> dict[str, Any]:
    """A canary of alpha-model v2 under way on m-alpha (for weight, promote, abort)."""
    record = env.platform.store.get_deployment("m-alpha")
    if record is not None and not record.rollout and "-v1-" not in record.release_id:
        env.client(env.admin).undeploy("m-alpha")  # promoted to v2 by an earlier call
    _deployment(env, _who)
    if not env.platform.store.get_deployment("m-alpha").rollout:  # type: ignore[union-attr]
        job = env.client(env.admin).rollout("m-alpha", version=2, canary=10,
                                            override_reason="policy matrix: traffic only")
        assert job.info.rollout is not None
    return {}


def _deployment(env: Env, _who: str) -> dict[str, Any]:
    if env.platform.store.get_deployment("m-alpha") is None:
        env.deploy("admin", name="m-alpha")
    return {}


def _member(env: Env, _who: str) -> dict[str, Any]:
    env.identity.set_role("viewer-a", "alpha", "viewer")
    return {}


def _own_token(env: Env, who: str) -> dict[str, Any]:
    """A token of the caller's own user, to revoke."""
    user = "deployer-a" if who == "predict-a" else who
    issued = env.platform.access.issue_token(user, "to revoke", None)
    return {"token_id": issued.id}


def _job(env: Env, _who: str) -> dict[str, Any]:
    [job] = env.platform.job_store.find(limit=1) or [None]
    if job is None:
        _deployment(env, _who)
        [job] = env.platform.job_store.find(limit=1)
    return {"job_id": job.id}


def _release(env: Env, who: str) -> dict[str, Any]:
    _deployment(env, who)
    record = env.platform.store.get_deployment("m-alpha")
    assert record is not None
    return {"release_id": record.release_id}


ROWS = [{"x": float(i), "y": i % 2} for i in range(12)]
def _pipeline(env: Env, _who: str) -> dict[str, Any]:
    """The pipeline p-alpha of team alpha (registered again if a call deleted it)."""
    from ferry_contract import PipelineCreate

    if env.platform.app.pipelines._store.get_pipeline("p-alpha") is None:
        admin = env.platform.access.authenticate(env.admin)
        env.platform.app.pipelines.register(
            "p-alpha", PipelineCreate(module="team_pipelines.nightly:retrain", team="alpha"),
            admin)
    return {}


def _pipeline_run(env: Env, who: str) -> dict[str, Any]:
    _pipeline(env, who)
    run = env.platform.app.pipelines._store.add_run(
        "p-alpha", state="skipped", trigger="manual", reason="policy matrix", actor="admin",
        params={}, team="alpha")
    return {"run_id": run.id}


CALLS: dict[str, Call] = {
    "get_health": Call("GET", "/v1/health"),
    "get_platform_info": Call("GET", "/v1/platform"),
    "whoami": Call("GET", "/v1/whoami"),
    "list_models": Call("GET", "/v1/models"),
    "get_model": Call("GET", "/v1/models/alpha-model"),
    "list_model_versions": Call("GET", "/v1/models/alpha-model/versions"),
    "get_model_version": Call("GET", "/v1/models/alpha-model/versions/1"),
    "put_model": Call("PUT", "/v1/models/alpha-model", {"description": "changed"}),
    "upload_logged_model": Call("POST", "/v1/models/alpha-model/logged-models",
                                files={"archive": ("model.tar.gz", b"not a tar.gz"),
                                       "lineage": (None, b"{}")}),
    "create_model_version": Call("POST", "/v1/models/alpha-model/versions",
                                 {"model_uri": "models:/m-1", "run_id": "r"}),
    "list_eval_sets": Call("GET", "/v1/models/alpha-model/eval-sets"),
    "create_eval_set": Call("POST", "/v1/models/alpha-model/eval-sets",
                            {"rows": ROWS, "label": "y"}),
    "get_gate": Call("GET", "/v1/models/alpha-model/gate"),
    "put_gate": Call("PUT", "/v1/models/alpha-model/gate", {"tolerance": 0.02}),
    "list_evaluations": Call("GET", "/v1/models/alpha-model/evaluations"),
    "create_evaluation": Call("POST", "/v1/models/alpha-model/evaluations", {"version": 2}),
    "compare_versions": Call("GET", "/v1/models/alpha-model/compare?base=1&candidate=2"),
    "set_champion": Call("PUT", "/v1/models/alpha-model/champion", {"version": 1}),
    "list_releases": Call("GET", "/v1/releases"),
    "get_release": Call("GET", "/v1/releases/{release_id}", prepare=_release),
    "list_deployments": Call("GET", "/v1/deployments"),
    "get_deployment": Call("GET", "/v1/deployments/m-alpha", prepare=_deployment),
    "create_deployment": Call("POST", "/v1/deployments",
                              {"model": "alpha-model", "version": 1, "name": "m-new"}),
    "delete_deployment": Call("DELETE", "/v1/deployments/m-alpha", prepare=_deployment),
    "update_deployment_access": Call("PATCH", "/v1/deployments/m-alpha/access",
                                     {"anonymous_predict": False}, prepare=_deployment),
    "start_rollout": Call("POST", "/v1/deployments/m-alpha/rollout",
                          {"version": 2, "weight": 10}, prepare=_deployment),
    "update_rollout": Call("PATCH", "/v1/deployments/m-alpha/rollout", {"weight": 20},
                           prepare=_rollout),
    "promote_rollout": Call("POST", "/v1/deployments/m-alpha/promote", prepare=_rollout),
    "abort_rollout": Call("POST", "/v1/deployments/m-alpha/abort", prepare=_rollout),
    "rollback_deployment": Call("POST", "/v1/deployments/m-alpha/rollback",
                                prepare=_deployment),
    "shadow_report": Call("GET", "/v1/deployments/m-alpha/shadow", prepare=_deployment),
    "log_outcomes": Call("POST", "/v1/deployments/m-alpha/outcomes",
                         {"outcomes": [{"request_id": "r-1", "label": 1, "value": 2.5}]},
                         prepare=_deployment),
    "get_monitoring_report": Call("GET", "/v1/deployments/m-alpha/monitoring",
                                  prepare=_deployment),
    "run_monitoring": Call("POST", "/v1/deployments/m-alpha/monitoring", {"window": "1h"},
                           prepare=_deployment),
    "get_monitor": Call("GET", "/v1/deployments/m-alpha/monitor", prepare=_deployment),
    "put_monitor": Call("PUT", "/v1/deployments/m-alpha/monitor", {"drift_threshold": 0.2},
                        prepare=_deployment),
    "list_alerts": Call("GET", "/v1/alerts"),
    "get_metrics": Call("GET", "/v1/metrics"),
    "list_jobs": Call("GET", "/v1/jobs"),
    "get_job": Call("GET", "/v1/jobs/{job_id}", prepare=_job),
    "get_job_logs": Call("GET", "/v1/jobs/{job_id}/logs", prepare=_job),
    "list_audit_events": Call("GET", "/v1/audit"),
    # allowed callers get the 404 of a source with no file: checked after the rule (a
    # relative source and dest lie under the team's first data root)
    "create_batch_job": Call("POST", "/v1/batch-jobs",
                             {"deployment": "m-alpha", "source": "nonexistent/in.parquet",
                              "dest": "nonexistent/out"}, prepare=_deployment),
    "list_batch_jobs": Call("GET", "/v1/batch-jobs"),
    "list_batch_roots": Call("GET", "/v1/batch-jobs/roots"),
    "get_batch_job": Call("GET", "/v1/batch-jobs/0123456789abcdef"),
    "list_feature_views": Call("GET", "/v1/features/views"),
    "list_feature_freshness": Call("GET", "/v1/features/freshness"),
    "plan_features": Call("POST", "/v1/features/plan"),
    "apply_features": Call("POST", "/v1/features/apply"),
    "materialize_features": Call("POST", "/v1/features/materialize",
                                 {"start": "2026-01-01T00:00:00Z",
                                  "end": "2026-01-02T00:00:00Z"}),
    "create_training_set": Call("POST", "/v1/training-sets",
                                {"features": ["stats:x"],
                                 "entities": [{"id": 1, "event_timestamp": "2026-01-01"}]}),
    "list_materialization_schedules": Call("GET", "/v1/features/schedules"),
    "put_materialization_schedule": Call("PUT", "/v1/features/views/stats/schedule",
                                         {"cron": "0 * * * *"}),
    "delete_materialization_schedule": Call("DELETE", "/v1/features/views/stats/schedule"),
    "list_pipelines": Call("GET", "/v1/pipelines"),
    "get_pipeline": Call("GET", "/v1/pipelines/p-alpha", prepare=_pipeline),
    "put_pipeline": Call("PUT", "/v1/pipelines/p-alpha",
                         {"module": "team_pipelines.nightly:retrain", "team": "alpha"}),
    "delete_pipeline": Call("DELETE", "/v1/pipelines/p-alpha", prepare=_pipeline),
    "run_pipeline": Call("POST", "/v1/pipelines/p-alpha/runs", {"params": {}},
                         prepare=_pipeline),
    "list_pipeline_runs": Call("GET", "/v1/pipelines/p-alpha/runs", prepare=_pipeline),
    "get_pipeline_run": Call("GET", "/v1/pipeline-runs/{run_id}", prepare=_pipeline_run),
    "list_teams": Call("GET", "/v1/teams"),
    "create_team": Call("POST", "/v1/teams", {"name": "{new}"}),
    "set_member": Call("PUT", "/v1/teams/alpha/members/bystander", {"role": "viewer"}),
    "remove_member": Call("DELETE", "/v1/teams/alpha/members/viewer-a", prepare=_member),
    "list_users": Call("GET", "/v1/users"),
    "create_user": Call("POST", "/v1/users", {"name": "{new}"}),
    "update_user": Call("PATCH", "/v1/users/bystander", {"disabled": False}),
    "list_tokens": Call("GET", "/v1/tokens"),
    "create_token": Call("POST", "/v1/tokens", {"user": "bystander"}, owner="bystander"),
    "revoke_token": Call("DELETE", "/v1/tokens/{token_id}", prepare=_own_token),
    "create_sign_in_link": Call("POST", "/v1/portal/links"),
}


HIDDEN_FROM_OTHER_TEAMS = {"delete_pipeline": 404, "run_pipeline": 404, "put_pipeline": 409}
"""What a caller with no role in a pipeline's team gets instead of a 403 naming the team."""


def test_every_route_has_exactly_one_rule_and_a_call_here() -> None:
    operations = {op["operationId"] for ops in openapi_spec()["paths"].values()
                  for op in ops.values()}
    assert operations == set(POLICY) - set(NOT_ROUTES)
    assert set(CALLS) == operations


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("policy")
    e = Env(f"sqlite:///{home / 'state.db'}", home)
    e.tokens["predict-a"] = e.client(e.tokens["deployer-a"]).create_token(scope="predict").token
    yield e


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("operation", sorted(CALLS))
def test_each_caller_gets_what_the_table_says(env: Env, operation: str, caller: str) -> None:
    call = CALLS[operation]
    args = call.prepare(env, caller) if call.prepare else {}
    path = call.path.format(**args)
    body = call.body
    if isinstance(body, dict) and body.get("name") == "{new}":
        body = {"name": f"p-{operation.replace('_', '-')}-{caller}"}
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    if call.files:
        kwargs = {"files": call.files}
    r = env.http(env.tokens[caller]).request(call.method, path, **kwargs)
    roles, platform_admin, _ = CALLERS[caller]
    if expected_allowed(POLICY[operation], caller, call.teams, call.owner):
        assert r.status_code not in (401, 403), (r.status_code, r.text)
        assert r.status_code < 500, r.text
    elif operation in HIDDEN_FROM_OTHER_TEAMS and not platform_admin and \
            not set(call.teams) & set(roles):
        # another team's pipeline answers as a missing one (its name: only "taken")
        assert r.status_code == HIDDEN_FROM_OTHER_TEAMS[operation], (r.status_code, r.text)
        assert "'alpha'" not in r.text and "team" not in r.json()["error"].get("details", {})
    else:
        assert r.status_code == 403, (r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "forbidden" and caller.split("-")[0] in err["message"]
        assert "role" in err["message"] or "only predict" in err["message"]
        # the refusal is audited under the resource the request names, so that
        # `ferry audit --resource deployment/m-alpha` finds it
        [denied] = env.client(env.admin).audit(action=operation, limit=1)
        assert denied.outcome == "denied" and denied.resource != "-", denied
        parts = path.split("?")[0].strip("/").split("/")  # v1, collection, name, ...
        if len(parts) > 2 and parts[1] in ("models", "releases", "deployments", "jobs",
                                           "teams", "users", "tokens"):
            assert denied.resource.endswith(f"/{parts[2]}"), (path, denied.resource)
    if r.status_code == 202 and operation in ("create_deployment", "start_rollout",
                                              "promote_rollout", "abort_rollout",
                                              "rollback_deployment", "update_rollout"):
        env.platform.jobs.wait(r.json()["id"], timeout=10)


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_without_a_token_every_operation_is_exactly_401(env: Env, operation: str) -> None:
    call = CALLS[operation]
    path = call.path.replace("{release_id}", "r-1").replace("{job_id}", "0" * 16) \
        .replace("{token_id}", "0" * 12)
    kwargs: dict[str, Any] = {"json": call.body} if call.body is not None else {}
    if call.files:
        kwargs = {"files": call.files}
    r = env.http(None).request(call.method, path, **kwargs)
    if operation == "get_health":
        assert r.status_code == 200 and set(r.json()) == {"status", "ray"}
        return
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["error"]["code"] == "unauthenticated"
    # and a malformed body or an unknown path changes nothing: still 401, not 400/404
    assert env.http(None).post(path, content=b"{not json").status_code == 401
    assert env.http(None).get(path + "/nope").status_code == 401
