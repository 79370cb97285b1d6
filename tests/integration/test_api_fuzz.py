"""Fuzz the control plane from its own OpenAPI document (schemathesis): generated valid
and invalid requests, as the platform admin, as callers with little or no right (a viewer,
a deployer of another team, a team-less user, a predict-only token) and without a token,
must never get a 500, every answer must match the documented schema, status codes and
content type, a caller the policy table refuses must never succeed, and a request without
a token is exactly 401."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from _control_plane import Env
from _policy import expected_allowed
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ferry_platform.application import POLICY, Scope

# Built at import: schemathesis parametrizes from a loaded schema (its fixture-based loader
# does not work with this pytest). A throwaway control plane on SQLite, with fakes.
_HOME = Path(tempfile.mkdtemp(prefix="ferry-fuzz-"))
ENV = Env(f"sqlite:///{_HOME / 'state.db'}", _HOME)
ENV.tokens["predict-a"] = ENV.client(ENV.tokens["deployer-a"]).create_token(scope="predict").token
ENV.deploy("admin", name="m-alpha")
schema = schemathesis.openapi.from_asgi("/openapi.json", ENV.app)

# Path parameters pinned to team alpha's resources, so that a refusal is what is tested
# (a random name would mostly be a 404).
ALPHA = {"/v1/models/": {"name": "alpha-model"}, "/v1/deployments/": {"name": "m-alpha"},
         "/v1/teams/": {"team": "alpha"}, "/v1/users/": {"name": "deployer-a"},
         "/v1/pipelines/": {"name": "p-alpha"}}
LOW = ["viewer-a", "deployer-b", "outsider", "predict-a"]


@pytest.fixture(scope="module")
def env() -> Env:
    return ENV
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_as_admin(case, env: Env) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers={"Authorization": f"Bearer {env.admin}"}, checks=CHECKS)


def _alpha_pipeline(env: Env) -> None:
    """Team alpha's pipeline p-alpha, registered again if a call deleted it."""
    from ferry_contract import PipelineCreate

    app = env.platform.app.pipelines
    if app._store.get_pipeline("p-alpha") is None:
        app.register("p-alpha", PipelineCreate(module="team_pipelines.nightly:retrain",
                                               team="alpha"),
                     env.platform.access.authenticate(env.admin))


@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("caller", LOW)
def test_api_as_callers_the_policy_refuses_never_succeeds(  # type: ignore[no-untyped-def]
        case, env: Env, caller: str) -> None:
    for prefix, params in ALPHA.items():
        if case.path.startswith(prefix):
            case.path_parameters = {**(case.path_parameters or {}),
                                    **{k: v for k, v in params.items()
                                       if k in (case.path_parameters or {})}}
    if case.path.startswith("/v1/pipelines/"):
        _alpha_pipeline(env)  # the admin's fuzzing may have deleted it
        if isinstance(case.body, dict) and "team" in case.body:
            case.body["team"] = "alpha"  # not a new pipeline of the caller's own team
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {env.tokens[caller]}"}, checks=CHECKS)
    rule = POLICY[case.operation.definition.raw["operationId"]]
    # "self" rules: the owner is whatever the request names, so only the others are sure
    if rule.scope is not Scope.self and not expected_allowed(rule, caller):
        assert response.status_code >= 400, (caller, case.method, case.path, response.text)


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_without_a_token_is_401_not_500(case, env: Env) -> None:  # type: ignore[no-untyped-def]
    response = case.call_and_validate(checks=CHECKS)
    if case.path != "/v1/health":
        assert response.status_code == 401, (response.status_code, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
