"""Run by test_two_node_cluster.py in its own process: a Ferry platform against an
existing two-node Ray cluster (FERRY_RAY_ADDRESS), deploy 2 replicas, predict, report JSON."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _grpc_predictions(dep: Any, rows: Any, timeout_s: float = 20.0) -> list[Any]:
    """Ray Serve's gRPC proxy learns a new application from its controller on its own
    schedule, after the HTTP proxy: deploy() can return (REST answering) a moment before
    gRPC routes the name (seen once on this cluster; the deploy does not wait for it yet,
    see the closing note of stop 23). Retried for ``timeout_s``, then the error stands."""
    from ferry_contract import DeploymentNotFound

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return list(dep.predict(rows, protocol="grpc").predictions)
        except DeploymentNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_for_nodes(count: int, timeout_s: float = 120) -> None:
    """Until ``count`` Ray nodes are alive (the worker node joins after the head)."""
    import ray

    deadline = time.monotonic() + timeout_s
    while sum(n["Alive"] for n in ray.nodes()) < count:
        assert time.monotonic() < deadline, f"fewer than {count} alive nodes: {ray.nodes()}"
        time.sleep(0.2)


def main() -> None:
    from _models import FEATURES, sklearn_pipeline, training_frame
    from conftest import _client_for

    from ferry_platform import Platform, Settings
    from ferry_platform.serving import replica_nodes

    times: dict[str, float] = {}
    t0 = time.monotonic()

    def lap(phase: str) -> None:  # where the test's minutes go, printed by the test
        nonlocal t0
        times[phase] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()

    settings = Settings()  # everything from FERRY_* in the environment
    platform = Platform.from_settings(settings)
    platform.start()
    lap("platform start")
    try:
        _wait_for_nodes(int(os.environ.get("FERRY_TEST_CLUSTER_NODES", "1")))
        lap("second node")
        client = _client_for(platform)
        mv = client.register(sklearn_pipeline(), name="cluster-churn",
                             training_data=training_frame(), target="churned")
        lap("register")
        dep = client.deploy("cluster-churn", version=mv.version, replicas=2)
        lap("deploy")
        rows = training_frame(seed=31)[FEATURES].head(25)
        want = sklearn_pipeline().predict(rows).tolist()
        out = {
            "release_id": dep.release_id,
            "rest_ok": dep.predict(rows, protocol="rest").predictions == want,
            "grpc_ok": _grpc_predictions(dep, rows) == want,
            "replica_nodes": replica_nodes("cluster-churn"),
            "cluster_nodes": sorted(n["NodeID"] for n in __import__("ray").nodes() if n["Alive"]),
        }
        # the monitoring job reads the replicas' prediction log as Ray tasks on the cluster,
        # once the replicas have written it (they flush every FERRY_PREDICTION_LOG_FLUSH_S)
        logs = platform.monitor.logs  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            files = logs.files(["cluster-churn"], now - timedelta(hours=1), now + timedelta(hours=1))
            if len(logs.read(files)) >= 50:
                break
            time.sleep(0.2)
        lap("predict, log flushed")
        report = client.monitoring("cluster-churn", window="10m")
        lap("monitoring job")
        out["logged_rows"] = sum(r.rows for r in report.releases)
        out["monitoring_nodes"] = report.computed_on
        client.undeploy("cluster-churn")
        out["replicas_after_undeploy"] = replica_nodes("cluster-churn")
        lap("undeploy")
    finally:
        platform.stop()
    lap("platform stop")
    out["times"] = times
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
