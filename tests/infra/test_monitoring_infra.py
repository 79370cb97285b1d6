"""The cluster path of service metrics, under Pulumi's mocks: Prometheus scrapes the control
plane's /v1/metrics with a token it reads from a Secret the program never holds, Grafana's
sidecar finds Ferry's dashboard (the one docs/monitoring/ ships), the serving role may write
the prediction log and nothing else new, and the Ray pods know where the log goes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _infra import INFRA, dev_config

from ferry_infra import load_teams, settings_from_outputs, simulate


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(dev_config(), load_teams(INFRA / "teams"))


def test_prometheus_scrapes_the_control_planes_metrics_with_a_token_from_a_secret(sim: Any) -> None:
    [scrape] = sim.of_type("kubernetes:monitoring.coreos.com/v1alpha1:ScrapeConfig")
    spec = scrape.inputs["spec"]
    assert spec["metricsPath"] == "/v1/metrics"
    assert spec["staticConfigs"][0]["targets"] == ["ferry-control-plane.ferry-system.svc:8700"]
    auth = spec["authorization"]
    assert auth["type"] == "Bearer" and auth["credentials"] == {"name": "ferry-metrics-token",
                                                                "key": "token"}
    assert scrape.inputs["metadata"]["labels"]["release"] == "prometheus"
    names = {s.inputs["metadata"]["name"] for s in sim.of_type("kubernetes:core/v1:Secret")}
    assert "ferry-metrics-token" not in names  # made by hand from a Ferry token, not in state


def test_grafanas_sidecar_finds_the_dashboard_the_docs_ship(sim: Any) -> None:
    [board] = [c for c in sim.of_type("kubernetes:core/v1:ConfigMap")
               if c.inputs["metadata"]["name"] == "ferry-grafana-dashboard"]
    assert board.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((INFRA.parent / "docs" / "monitoring" / "grafana-dashboard.json")
                         .read_text())
    assert json.loads(board.inputs["data"]["ferry.json"]) == shipped
    exprs = " ".join(t["expr"] for p in shipped["panels"] for t in p["targets"])
    for metric in ("ferry_requests_total", "ferry_request_latency_seconds_bucket",
                   "ferry_feature_drift_score", "ferry_prediction_log_dropped_total",
                   "ferry_alerts_open", "ferry_rejected_inputs_total"):
        assert metric in exprs


def test_monitoring_off_declares_neither(sim: Any) -> None:
    off = simulate(dev_config(monitoring={"enabled": False}), load_teams(INFRA / "teams"))
    assert off.of_type("kubernetes:monitoring.coreos.com/v1alpha1:ScrapeConfig") == []
    assert len(off.resources) == len(sim.resources) - 3  # the component and its two objects


def test_the_serving_role_writes_the_prediction_log_and_the_pods_know_where(sim: Any) -> None:
    from ferry_infra._iam import S3Grant, service_grants

    grants = service_grants({p: p for p in ("artifacts", "bentos", "feature-registry",
                                            "feature-offline")})
    assert S3Grant("artifacts", "predictions/", write=True) in grants["ferry-serving"]
    assert [g for g in grants["ferry-serving"] if g.write] == [
        S3Grant("artifacts", "predictions/", write=True)]
    uri = sim.outputs["predictionLogUri"]
    assert uri == f"s3://{sim.outputs['artifactsBucket']}/predictions"
    assert settings_from_outputs(sim.outputs)["FERRY_PREDICTION_LOG_URI"] == uri
    [ray] = sim.of_type("kubernetes:ray.io/v1:RayCluster")
    [container] = ray.inputs["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FERRY_PREDICTION_LOG_URI"] == uri and env["FERRY_MONITORING"] == "true"
