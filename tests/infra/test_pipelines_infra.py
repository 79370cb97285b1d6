"""The cluster path of pipelines, under Pulumi's mocks: a Prefect server in Ferry's
namespace reads its database URL from a Secret the program never holds, answers health
probes, and the control plane is pointed at it (with steps on Ray) by the stack's settings."""

from __future__ import annotations

from typing import Any

import pytest
from _infra import INFRA, dev_config

from ferry_infra import load_teams, settings_from_outputs, simulate


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(dev_config(), load_teams(INFRA / "teams"))


def test_a_prefect_server_reads_its_database_from_a_secret(sim: Any) -> None:
    [dep] = [d for d in sim.of_type("kubernetes:apps/v1:Deployment")
             if d.inputs["metadata"]["name"] == "ferry-prefect-server"]
    assert dep.inputs["metadata"]["namespace"] == "ferry-system"
    [container] = dep.inputs["spec"]["template"]["spec"]["containers"]
    assert container["command"][:3] == ["prefect", "server", "start"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "ferry-prefect-database", "key": "url"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/health"
    names = {s.inputs["metadata"]["name"] for s in sim.of_type("kubernetes:core/v1:Secret")}
    assert "ferry-prefect-database" not in names  # made by hand, not in Pulumi's state
    [svc] = [s for s in sim.of_type("kubernetes:core/v1:Service")
             if s.inputs["metadata"]["name"] == "ferry-prefect-server"]
    assert svc.inputs["spec"]["ports"][0]["port"] == 4200


def test_the_control_plane_is_pointed_at_it(sim: Any) -> None:
    env = settings_from_outputs(sim.outputs)
    assert env["FERRY_PREFECT_API_URL"] == "http://ferry-prefect-server.ferry-system.svc:4200/api"
    # team code never runs on the serving cluster (its workers hold the serving secrets)
    assert "FERRY_PIPELINE_RAY_TASKS" not in env


def test_pipelines_off_declares_no_server(sim: Any) -> None:
    off = simulate(dev_config(pipelines={"enabled": False}), load_teams(INFRA / "teams"))
    assert [d for d in off.of_type("kubernetes:apps/v1:Deployment")
            if d.inputs["metadata"]["name"] == "ferry-prefect-server"] == []
    assert "FERRY_PREFECT_API_URL" not in settings_from_outputs(off.outputs)
    assert len(off.resources) == len(sim.resources) - 3  # the component and its two objects
