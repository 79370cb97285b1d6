"""Run by test_two_node_cluster.py in its own process: a Ferry platform against an
existing two-node Ray cluster (FERRY_RAY_ADDRESS), deploy 2 replicas, predict, report JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from _models import FEATURES, sklearn_pipeline, training_frame
    from conftest import _client_for

    from ferry_platform import Platform, Settings
    from ferry_platform.serving import replica_nodes

    settings = Settings()  # everything from FERRY_* in the environment
    platform = Platform.from_settings(settings)
    platform.start()
    try:
        client = _client_for(platform)
        mv = client.register(sklearn_pipeline(), name="cluster-churn",
                             training_data=training_frame(), target="churned")
        dep = client.deploy("cluster-churn", version=mv.version, replicas=2)
        rows = training_frame(seed=31)[FEATURES].head(25)
        want = sklearn_pipeline().predict(rows).tolist()
        out = {
            "release_id": dep.release_id,
            "rest_ok": dep.predict(rows, protocol="rest").predictions == want,
            "grpc_ok": dep.predict(rows, protocol="grpc").predictions == want,
            "replica_nodes": replica_nodes("cluster-churn"),
            "cluster_nodes": sorted(n["NodeID"] for n in __import__("ray").nodes() if n["Alive"]),
        }
        client.undeploy("cluster-churn")
        out["replicas_after_undeploy"] = replica_nodes("cluster-churn")
    finally:
        platform.stop()
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
