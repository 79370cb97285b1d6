"""Fuzz the control plane from its own OpenAPI document (schemathesis): generated valid
and invalid requests, with and without a token, must never get a 500, and every answer
must match the documented schema, status codes and content type."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from _control_plane import Env
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Built at import: schemathesis parametrizes from a loaded schema (its fixture-based loader
# does not work with this pytest). A throwaway control plane on SQLite, with fakes.
_HOME = Path(tempfile.mkdtemp(prefix="ferry-fuzz-"))
ENV = Env(f"sqlite:///{_HOME / 'state.db'}", _HOME)
schema = schemathesis.openapi.from_asgi("/openapi.json", ENV.app)


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


@schema.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_without_a_token_is_401_not_500(case, env: Env) -> None:  # type: ignore[no-untyped-def]
    response = case.call_and_validate(checks=CHECKS)
    if case.path != "/v1/health":
        assert response.status_code == 401, (response.status_code, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
