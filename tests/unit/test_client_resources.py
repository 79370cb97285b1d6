"""The client is a transport plus one sub-client per resource; every flat method of the
README and the guides stays, an alias with exactly its sub-client method's signature."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest

import ferry

FLAT = """abort apply_features audit compare create_eval_set create_team create_token create_user
deploy deployment deployments eval_sets evaluate evaluations feature_freshness feature_views
gate job job_logs jobs log_model materialize model models plan_features promote register
releases remove_member revoke_token rollback rollout set_anonymous_predict set_champion
set_gate set_member set_weight shadow_report start_deploy status teams tokens training_set
undeploy update_user users version versions wait whoami""".split()
ALIASES = {name: getattr(ferry.Client, name) for name in FLAT}


def test_every_flat_method_is_still_there_and_an_alias() -> None:
    assert [n for n, f in ALIASES.items() if not hasattr(f, "__alias_of__")] == []


@pytest.mark.parametrize("name", FLAT)
def test_an_alias_has_its_targets_signature_and_reaches_it(name: str) -> None:
    alias = ALIASES[name]
    target = alias.__alias_of__
    assert inspect.signature(alias) == inspect.signature(target)
    resource = target.__qualname__.split(".")[0]
    client = ferry.Client("http://ferry.invalid", token="t")
    assert type(getattr(client, resource.lower())).__name__ == resource
    assert alias.__doc__ and target.__qualname__.split(".")[1] in alias.__doc__


def test_flat_and_sub_client_calls_send_the_same_request() -> None:
    sent: list[tuple[str, str, bytes]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, str(request.url), request.content))
        return httpx.Response(200, json=[])

    client = ferry.Client("http://ferry.test", token="t", transport=httpx.MockTransport(answer))
    calls: list[tuple[Any, Any]] = [
        (lambda: client.models(), lambda: client.registry.models()),
        (lambda: client.feature_views(), lambda: client.features.views()),
        (lambda: client.jobs(kind="deploy", limit=5),
         lambda: client.operations.jobs(kind="deploy", limit=5)),
        (lambda: client.audit(actor="kim"), lambda: client.access.audit(actor="kim")),
        (lambda: client.releases("churn"), lambda: client.serving.releases("churn")),
    ]
    for flat, sub in calls:
        sent.clear()
        flat()
        sub()
        assert len(sent) == 2 and sent[0] == sent[1], sent
