"""Ferry's declarative Serve config, built without Ray: what each release and router
application carries, how scaling changes only per-deployment config, and that the builders
import no Ray at all."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from _fakes import FakePackager, FakeRegistry

from ferry_contract import Protocol
from ferry_platform.serving import Route, ServingConfig
from ferry_platform.serving import _appconfig as A  # noqa: N812
from ferry_platform.serving._names import (
    RELEASE_APP,
    RELEASE_DEPLOYMENT,
    ROUTER_APP,
    ROUTER_DEPLOYMENT,
)


@pytest.fixture
def config(tmp_path: Path) -> ServingConfig:
    return ServingConfig(home=tmp_path, bentoml_home=str(tmp_path / "bentoml"),
                         router_replicas=2, max_ongoing_requests=50, max_body_mb=2)


def routes(*weights: int, replicas: int = 2, max_replicas: int | None = None) -> list[Route]:
    registry = FakeRegistry({"m": list(range(1, len(weights) + 1))})
    return [Route(FakePackager().build(registry.get_version("m", v)), w, replicas,
                  Protocol.auto, max_replicas=max_replicas, arm="stable")
            for v, w in enumerate(weights, start=1)]


def test_a_release_application_is_built_from_its_spec_by_import_path(config) -> None:  # type: ignore[no-untyped-def]
    route = routes(100)[0]
    app = A.release_config(config, "churn", route)
    assert app["name"] == f"churn.{route.manifest.release_id}"
    assert app["import_path"] == RELEASE_APP and app["route_prefix"] is None
    spec = app["args"]["spec"]
    assert spec["manifest"]["release_id"] == route.manifest.release_id
    assert spec["max_body_bytes"] == 2 * 2**20 and spec["protocol"] == "auto"
    options = app["args"]["options"]
    assert options["max_ongoing_requests"] == 50
    assert options["ray_actor_options"]["num_cpus"] == config.replica_num_cpus
    assert app["deployments"] == [{"name": RELEASE_DEPLOYMENT, "num_replicas": 2}]
    json.dumps(app)  # plain data: what Serve's schema takes


def test_an_autoscaled_release_gets_serve_autoscaling_config_not_a_count(config) -> None:  # type: ignore[no-untyped-def]
    route = routes(100, replicas=1, max_replicas=6)[0]
    (dep,) = A.release_config(config, "churn", route)["deployments"]
    assert "num_replicas" not in dep
    auto = dep["autoscaling_config"]
    assert (auto["min_replicas"], auto["initial_replicas"], auto["max_replicas"]) == (1, 1, 6)
    assert auto["target_ongoing_requests"] == config.autoscaling.target_ongoing_requests
    # Serve validates the block as its own AutoscalingConfig (no Ray process needed)
    from ray.serve.config import AutoscalingConfig

    AutoscalingConfig(**auto)


def test_random_bounds_map_exactly_and_routers_follow_the_primary(config) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(13)
    for _ in range(50):
        low = rng.randint(1, 8)
        high = rng.randint(low, 16)
        rs = routes(90, 10, replicas=low, max_replicas=high)
        user = A.router_user_config(rs, "churn", 1)
        router = A.router_config(config, "churn", user, A.primary_route(rs))
        (dep,) = router["deployments"]
        assert dep["user_config"]["offload"] is True  # routers' queue visible to Serve
        assert dep["autoscaling_config"]["min_replicas"] == config.router_replicas
        assert dep["autoscaling_config"]["max_replicas"] == max(config.router_replicas, high)
        for r in rs:
            auto = A.release_deployment(config, r)["autoscaling_config"]
            assert (auto["min_replicas"], auto["max_replicas"]) == (low, high)


def test_a_fixed_deployment_keeps_fixed_routers(config) -> None:  # type: ignore[no-untyped-def]
    rs = routes(100)
    router = A.router_config(config, "churn", A.router_user_config(rs, "churn", 3),
                             A.primary_route(rs))
    assert router["import_path"] == ROUTER_APP and router["route_prefix"] == "/churn"
    assert router["args"] == {"name": "churn", "max_body_bytes": 2 * 2**20,
                              "options": router["args"]["options"]}
    (dep,) = router["deployments"]
    assert dep["name"] == ROUTER_DEPLOYMENT and dep["num_replicas"] == 2
    assert dep["user_config"]["offload"] is False  # fixed: predict on the loop (fastest)
    assert dep["user_config"]["generation"] == 3


def test_the_routers_user_config_splits_traffic_and_names_the_local_release() -> None:
    stable, canary = routes(90, 10)
    shadow = replace(routes(100)[0], weight=0, shadow=True, arm="shadow")
    user = A.router_user_config([stable, canary, shadow], "churn", 7, sticky_key="id")
    assert [(r["release_id"], r["weight"]) for r in user["routes"]] == \
        [(stable.manifest.release_id, 90), (canary.manifest.release_id, 10)]
    assert user["shadow"]["release_id"] == shadow.manifest.release_id
    assert user["local"] == {"release_id": stable.manifest.release_id, "spec": None}
    assert user["sticky_key"] == "id" and user["generation"] == 7


def test_the_route_edit_scales_a_running_release_without_rebuilding_it(config) -> None:  # type: ignore[no-untyped-def]
    (r,) = routes(100, replicas=2)
    app = A.release_config(config, "churn", r)
    configs = {app["name"]: app}
    before = json.dumps(app["args"], sort_keys=True)
    scaled = replace(r, replicas=1, max_replicas=4)
    user = A.router_user_config([scaled], "churn", 2)
    A.route_edit(config, "churn", [scaled], user, lambda: {"anonymous": True})(configs)
    assert json.dumps(configs[app["name"]]["args"], sort_keys=True) == before
    assert configs[app["name"]]["deployments"][0]["autoscaling_config"]["max_replicas"] == 4
    router = configs["churn"]["deployments"][0]
    assert router["user_config"]["local"]["spec"] == app["args"]["spec"]
    assert router["user_config"]["access"] == {"anonymous": True}
    assert A.user_config_of(configs["churn"])["generation"] == 2
    A.without([app["name"]])(configs)
    assert list(configs) == ["churn"]


def test_the_builders_import_no_ray() -> None:
    code = ("import sys, ferry_platform.serving._appconfig; "
            "print(','.join(m for m in ('ray', 'bentoml', 'ferry_platform._settings') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
