"""Where a release runs, recorded on its MLflow model version: MLflow's own client sees it."""

from __future__ import annotations

import json

import pytest
from _fakes import FakePackager, FakeRuntime
from _models import sklearn_pipeline, training_frame
from mlflow import MlflowClient

from ferry_contract import DeploymentCreate, RolloutCreate, RolloutMode
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.store import SqlStateStore


@pytest.fixture(scope="module")
def releases(registry_client, platform_core):  # type: ignore[no-untyped-def]
    """The real MLflow registry of the session; the runtime and packager are fakes."""
    for _ in range(2):
        registry_client.register(sklearn_pipeline(), name="tag-churn",
                                 training_data=training_frame(), target="churned")
    return ReleaseService(platform_core.registry, FakePackager(), FakeRuntime(),
                          SqlStateStore("sqlite://"), Defaults(replicas=1))


def tags(settings, version: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri,
                          registry_uri=settings.mlflow_tracking_uri)
    return dict(client.get_model_version("tag-churn", str(version)).tags)


def test_deploy_rollout_promote_undeploy_are_on_the_versions(releases, settings) -> None:  # type: ignore[no-untyped-def]
    releases.deploy(DeploymentCreate(model="tag-churn", version=1, name="tags-a"))
    v1 = tags(settings, 1)
    assert v1["ferry.release_id"] == "tag-churn-v1-x"
    assert v1["ferry.deployments"] == "tags-a"
    placed = json.loads(v1["ferry.deployment.tags-a"])
    assert (placed["release_id"], placed["weight"], placed["arm"]) == ("tag-churn-v1-x", 100,
                                                                      "stable")
    assert "ferry.deployments" not in tags(settings, 2)

    releases.deploy(DeploymentCreate(model="tag-churn", version=1, name="tags-b"))
    assert tags(settings, 1)["ferry.deployments"] == "tags-a,tags-b"

    releases.rollout("tags-a", RolloutCreate(version=2, weight=10, mode=RolloutMode.canary))
    assert json.loads(tags(settings, 1)["ferry.deployment.tags-a"])["weight"] == 90
    v2 = json.loads(tags(settings, 2)["ferry.deployment.tags-a"])
    assert (v2["weight"], v2["arm"]) == (10, "canary")

    releases.promote("tags-a")
    assert json.loads(tags(settings, 2)["ferry.deployment.tags-a"])["weight"] == 100
    # the old release stays up with no traffic (instant rollback)
    assert json.loads(tags(settings, 1)["ferry.deployment.tags-a"])["weight"] == 0

    releases.undeploy("tags-a")
    v1, v2 = tags(settings, 1), tags(settings, 2)
    assert "ferry.deployment.tags-a" not in v1 and "ferry.deployment.tags-a" not in v2
    assert v1["ferry.deployments"] == "tags-b" and v2["ferry.deployments"] == ""
    history = json.loads(v1["ferry.deployment_history"])
    assert [(e["deployment"], e["action"], e["weight"]) for e in history] == [
        ("tags-a", "deploy", 100), ("tags-b", "deploy", 100), ("tags-a", "rollout", 90),
        ("tags-a", "promote", 0), ("tags-a", "undeploy", None)]
    assert [e["action"] for e in json.loads(v2["ferry.deployment_history"])] == [
        "rollout", "promote", "undeploy"]


def test_history_keeps_under_mlflows_limit() -> None:
    from datetime import UTC, datetime

    from ferry_platform.releases._placements import HISTORY_LIMIT, Placement, placement_tags

    current: dict[str, str] = {}
    now = datetime.now(UTC)
    for i in range(200):
        changes = placement_tags(current, "d", "r1", Placement("r1", i % 100, "stable"),
                                 "weight", now)
        current = {k: v for k, v in {**current, **changes}.items() if v is not None}
    history = json.loads(current["ferry.deployment_history"])
    assert len(current["ferry.deployment_history"]) <= HISTORY_LIMIT
    assert history[-1]["weight"] == 199 % 100 and len(history) < 200
    assert placement_tags(current, "d", "r1", Placement("r1", 99, "stable"), "weight",
                          now) == {}
