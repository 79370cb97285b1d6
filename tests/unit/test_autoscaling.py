"""Autoscaling through the layers: the contract's bounds and the messages that name the bad
values, the use case's mapping onto routes (and the platform's limit), the SDK and CLI
arguments. The Serve config each maps to is in test_serve_appconfig."""

from __future__ import annotations

import random

import pytest
from _fakes import FakePackager, FakeRegistry, FakeRuntime

from ferry_contract import MAX_REPLICAS, DeploymentCreate, InvalidRequest
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.store import SqlStateStore


def service(cap: int = 16) -> tuple[ReleaseService, FakeRuntime]:
    rt = FakeRuntime()
    svc = ReleaseService(FakeRegistry({"churn": [1, 2]}), FakePackager(), rt,
                         SqlStateStore("sqlite://"), Defaults(replicas=2, max_replicas=cap))
    return svc, rt


def req(**kw: object) -> DeploymentCreate:
    return DeploymentCreate(model="churn", version=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "named"), [
    ({"min_replicas": 5, "max_replicas": 3}, ["min_replicas=5", "max_replicas=3"]),
    ({"replicas": 2, "max_replicas": 6}, ["replicas=2", "auto"]),
    ({"replicas": 0}, ["greater than or equal to 1"]),
    ({"max_replicas": MAX_REPLICAS + 1}, [f"less than or equal to {MAX_REPLICAS}"]),
    ({"replicas": "lots"}, ["'auto'", "valid integer"]),
])
def test_bad_bounds_are_refused_naming_the_values(kw: dict[str, object], named: list[str]) -> None:
    with pytest.raises(ValueError) as e:
        req(**kw)
    for text in named:
        assert text in str(e.value)


def test_the_default_stays_a_fixed_count() -> None:
    svc, rt = service()
    dep = svc.deploy(req())
    assert (dep.replicas, dep.max_replicas) == (2, None)
    assert rt.scaling == {dep.release.release_id: (2, None)}


def test_auto_scales_from_one_to_the_platforms_autoscaling_maximum() -> None:
    svc, rt = service()
    dep = svc.deploy(req(replicas="auto"))
    assert (dep.replicas, dep.max_replicas) == (1, Defaults().autoscale_max_replicas)
    assert rt.scaling[dep.release.release_id] == (1, 4)
    assert svc.get("churn").max_replicas == 4  # recorded: a restart re-applies it


def test_bounds_map_exactly_and_a_fixed_count_turns_autoscaling_off() -> None:
    rng = random.Random(7)
    svc, rt = service()
    for _ in range(5):
        low = rng.randint(1, 6)
        high = rng.randint(low, 16)
        dep = svc.deploy(req(min_replicas=low, max_replicas=high))
        assert rt.scaling[dep.release.release_id] == (low, high)
        assert (dep.replicas, dep.max_replicas) == (low, high)
    dep = svc.deploy(req(replicas=3))
    assert rt.scaling[dep.release.release_id] == (3, None) and dep.max_replicas is None


def test_the_platforms_limit_is_a_4xx_naming_the_value_and_the_limit() -> None:
    svc, rt = service(cap=8)
    with pytest.raises(InvalidRequest) as e:
        svc.deploy(req(replicas="auto", max_replicas=12))
    assert e.value.status // 100 == 4
    assert "max_replicas=12" in e.value.message and "8" in e.value.message
    assert e.value.details == {"max_replicas": 12, "limit": 8}
    with pytest.raises(InvalidRequest, match="replicas=9"):
        svc.deploy(req(replicas=9))
    assert rt.applied == []  # refused before anything ran


def test_the_sdk_refuses_bad_bounds_before_sending() -> None:
    import ferry

    client = ferry.Client("http://127.0.0.1:9", token="t")
    with pytest.raises(InvalidRequest, match="min_replicas=4 is above max_replicas=2"):
        client.start_deploy("churn", version=1, min_replicas=4, max_replicas=2)


def test_the_cli_reads_auto_numbers_and_bounds() -> None:
    from ferry.cli._deployments import _scaling

    assert _scaling("auto", None, 5) == {"replicas": "auto", "min_replicas": None,
                                         "max_replicas": 5}
    assert _scaling(None, 2, None)["replicas"] == "auto"
    assert _scaling("3", None, None)["replicas"] == 3
    with pytest.raises(InvalidRequest, match="'many'"):
        _scaling("many", None, None)


@pytest.mark.parametrize(("body", "named"), [
    ({"min_replicas": 5, "max_replicas": 2}, "min_replicas=5 is above max_replicas=2"),
    ({"replicas": 3, "min_replicas": 2}, "replicas=3 is a fixed count"),
    ({"replicas": "many"}, "replicas"),
    ({"max_replicas": 65}, "max_replicas"),
])
def test_the_api_answers_400_naming_the_bad_value(registry_client, body, named) -> None:  # type: ignore[no-untyped-def]
    resp = registry_client._http.post("/v1/deployments",
                                      json={"model": "churn", "version": 1, **body})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "invalid_request" and named in error["message"]
