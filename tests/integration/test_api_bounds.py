"""The control plane refuses numbers no store can hold, and answers every error from the
tree: an integer past a database column is a 400 naming the field, never a 500; the
answers FastAPI and the size limit produce themselves carry known codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _control_plane import Env, env_on

from ferry_contract import is_known_code
from ferry_server._app import openapi_spec

HUGE = 2**70


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request, tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    yield from env_on(request.param, tmp_path_factory, "bounds")


def refused(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    err = response.json()["error"]
    assert err["code"] == "invalid_request" and field in err["message"], err
    return dict(err)


@pytest.mark.parametrize("body,field", [
    ({"model": "alpha-model", "version": HUGE}, "version"),
    ({"model": "alpha-model", "version": 2**31}, "version"),
    ({"model": "alpha-model", "version": 1, "replicas": 2**63}, "replicas"),
])
def test_a_deploy_with_an_integer_past_the_database_is_a_400_naming_the_field(
        env: Env, body: dict[str, Any], field: str) -> None:
    refused(env.http(env.admin).post("/v1/deployments", json=body), field)
    assert env.runtime.names() == []


@pytest.mark.parametrize("path,field", [
    (f"/v1/models/alpha-model/compare?base={2**63}&candidate=1", "base"),
    (f"/v1/models/alpha-model/compare?base=1&candidate={HUGE}", "candidate"),
    (f"/v1/models/alpha-model/evaluations?version={HUGE}", "version"),
    (f"/v1/models/alpha-model/versions/{HUGE}", "version"),
    (f"/v1/jobs?limit={HUGE}", "limit"),
    (f"/v1/audit?before={HUGE}", "before"),
])
def test_paths_and_queries_with_huge_integers_are_400_naming_the_field(
        env: Env, path: str, field: str) -> None:
    refused(env.http(env.admin).get(path), field)


@pytest.mark.parametrize("literal", ["Infinity", "NaN", "1e400"])
def test_a_gate_with_a_non_finite_tolerance_is_refused(env: Env, literal: str) -> None:
    body = '{"tolerance": ' + literal + ', "min_slice_rows": 30}'
    r = env.http(env.admin).put("/v1/models/alpha-model/gate", content=body,
                                headers={"content-type": "application/json"})
    refused(r, "tolerance")
    r = env.http(env.admin).put("/v1/models/alpha-model/gate", json={"min_slice_rows": HUGE})
    refused(r, "min_slice_rows")


def _unbounded(spec: dict[str, Any]) -> list[str]:
    schemas = spec["components"]["schemas"]
    out: list[str] = []

    def walk(s: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in s:
            name = s["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], name, seen | {name})
            return
        if s.get("type") == "integer" and "maximum" not in s and "exclusiveMaximum" not in s:
            out.append(where)
        for key, sub in (s.get("properties") or {}).items():
            walk(sub, f"{where}.{key}", seen)
        for sub in s.get("anyOf", []) + s.get("oneOf", []) + s.get("allOf", []):
            walk(sub, where, seen)
        if isinstance(s.get("items"), dict):
            walk(s["items"], f"{where}[]", seen)
        if isinstance(s.get("additionalProperties"), dict):
            walk(s["additionalProperties"], f"{where}{{}}", seen)

    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                walk(param["schema"], f"{method.upper()} {path} ?{param['name']}", frozenset())
            for content in (op.get("requestBody") or {}).get("content", {}).values():
                walk(content["schema"], f"{method.upper()} {path} body", frozenset())
    return out


def test_every_integer_a_client_sends_has_an_upper_bound() -> None:
    assert _unbounded(openapi_spec()) == []


def test_the_control_planes_own_answers_carry_codes_of_the_tree(env: Env) -> None:
    http = env.http(env.admin)
    answers = {
        "not_found": http.get("/v1/no-such-thing"),
        "method_not_allowed": http.delete("/v1/models"),
        "too_large": http.post("/v1/deployments", content=b"x" * (65 * 2**20),
                               headers={"content-type": "application/json"}),
        "invalid_request": http.post("/v1/deployments", content=b"[" * 100_000,
                                     headers={"content-type": "application/json"}),
    }
    for code, response in answers.items():
        err = response.json()["error"]
        assert err["code"] == code and is_known_code(code), (code, response.text)
    assert answers["too_large"].status_code == 413
    assert "FERRY_MAX_BODY_MB" in answers["too_large"].json()["error"]["message"]
    assert answers["invalid_request"].status_code == 400
