"""The real entry point, `infra/__main__.py`, as `pulumi up` runs it: config from Pulumi's
config (plain values as strings, structured ones as JSON, secrets marked), team files from
infra/teams, exports. Run under the mocks; it must declare what `simulate_stack` declares."""

from __future__ import annotations

import json
import runpy
from typing import Any

import pulumi
import pulumi.runtime
import pytest
import yaml
from _infra import INFRA
from pulumi.runtime import mocks

from ferry_infra import simulate_stack
from ferry_infra._simulate import install_mocks


def _run_main(stack: str, secrets: dict[str, str]) -> list[Any]:
    cfg = yaml.safe_load((INFRA / f"Pulumi.{stack}.yaml").read_text())["config"]
    values = {
        k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()
    }  # as the CLI hands them over
    values.update(secrets)
    pulumi.runtime.set_all_config(values, list(secrets))
    recorder = install_mocks(stack)
    try:
        mocks.test(lambda: runpy.run_path(str(INFRA / "__main__.py"), run_name="__main__"))()
    finally:
        pulumi.runtime.set_all_config({})
    return recorder.resources


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_main_declares_the_stack(stack: str) -> None:
    resources = _run_main(stack, {"ferry:dbPassword": "p" * 24, "ferry:redisAuthToken": "t" * 32})
    expected = simulate_stack(INFRA, stack).resources
    assert sorted(r.key for r in resources) == sorted(r.key for r in expected)
    [db] = [r for r in resources if r.type == "aws:rds/instance:Instance"]
    assert db.inputs["password"].get("value") == "p" * 24  # and it travels as a secret (a wrapped value)
    [cluster] = [r for r in resources if r.type == "aws:eks/cluster:Cluster"]
    assert cluster.inputs["version"] == "1.33"  # a string in the stack file stays a string


def test_main_without_its_secrets_names_them() -> None:
    with pytest.raises(Exception, match="dbPassword"):
        _run_main("dev", {"ferry:redisAuthToken": "t" * 32})


def test_credentials_leave_the_stack_only_as_secrets() -> None:
    from ferry_infra import SECRET_OUTPUTS

    sim = simulate_stack(INFRA, "dev")
    assert sim.secret_outputs == SECRET_OUTPUTS
    assert {"databaseUrl", "mlflowTrackingUri", "redisConnection", "kubeconfig"} <= sim.secret_outputs
    assert "mock-db-password" in sim.outputs["databaseUrl"]  # the secret is in the value, not lost
