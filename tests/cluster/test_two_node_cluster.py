"""The path to a real cluster: Ferry connects to an existing Ray cluster (FERRY_RAY_ADDRESS)
instead of starting one. Two Ray nodes are started on this machine (`ray start --head` and
`ray start --address=...`); the deployment's two replicas must spread over both. (Batch
scoring over both nodes is not shown yet: its scorers waited for CPU past the driver's
10 minutes on this 2-core machine.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _proc import session_members
from _services import free_port

pytestmark = pytest.mark.cluster
HERE = Path(__file__).resolve().parent


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("ray")
    return subprocess.Popen([str(exe), "start", "--block", "--disable-usage-stats", *args],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a `ray start --block` node and everything it started (its whole session:
    raylet, workers, Serve actors, HAProxy), leaving any other Ray on the machine alone."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    for _ in range(20):
        members = session_members(proc.pid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def _wait_for_port(port: int, node: subprocess.Popen[bytes], log: Path,
                   timeout_s: float = 120) -> None:
    """Until something listens on ``port`` (the head's GCS), failing early if the node died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert node.poll() is None, log.read_text()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} after {timeout_s}s: {log.read_text()[-2000:]}")


def test_replicas_spread_over_a_two_node_cluster(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from ferry_platform import Settings
    from ferry_platform.serving import serve_env

    gcs_port = free_port()
    http_port, grpc_port, stats_port, metrics_port = (free_port() for _ in range(4))
    home = tmp_path / "home"
    cluster_settings = Settings(home=home, ray_address=f"127.0.0.1:{gcs_port}",
                                serve_http_port=http_port, serve_grpc_port=grpc_port,
                                serve_haproxy_stats_port=stats_port,
                                serve_haproxy_metrics_port=metrics_port,
                                bentoml_home=settings.bentoml_home, deploy_timeout_s=240)
    # Cluster nodes run with the serve-mode variables, as a KubeRay RayService would set them.
    env = {**os.environ, **serve_env(cluster_settings.serving_config())}
    temp = Path("/tmp") / f"fr{gcs_port}"
    head = _ray_start(["--head", f"--port={gcs_port}", "--num-cpus=1", "--include-dashboard=false",
                       f"--temp-dir={temp}", "--node-ip-address=127.0.0.1"], env,
                      tmp_path / "head.log")
    worker = None
    t0 = time.monotonic()
    try:
        _wait_for_port(gcs_port, head, tmp_path / "head.log")  # the head's GCS answers
        worker = _ray_start([f"--address=127.0.0.1:{gcs_port}", "--num-cpus=1",
                             "--node-ip-address=127.0.0.1"], env, tmp_path / "worker.log")
        # the driver waits for both nodes to be alive before it deploys
        nodes_up_s = time.monotonic() - t0
        driver_env = {**env, "FERRY_HOME": str(home), "FERRY_RAY_ADDRESS": f"127.0.0.1:{gcs_port}",
                      "FERRY_SERVE_HTTP_PORT": str(http_port), "FERRY_SERVE_GRPC_PORT": str(grpc_port),
                      "FERRY_SERVE_HAPROXY_STATS_PORT": str(stats_port),
                      "FERRY_SERVE_HAPROXY_METRICS_PORT": str(metrics_port),
                      "FERRY_BENTOML_HOME": settings.bentoml_home, "FERRY_REPLICA_NUM_CPUS": "0.5",
                      "FERRY_DEPLOY_TIMEOUT_S": "240", "FERRY_TEST_CLUSTER_NODES": "2",
                      # a node's 1 CPU: a replica (0.5), a batch scorer (0.25), I/O (0.25)
                      "FERRY_BATCH_ACTOR_CPUS": "0.25", "FERRY_BATCH_ROWS": "200"}
        t1 = time.monotonic()
        run = subprocess.run([sys.executable, str(HERE / "_driver.py")], env=driver_env,
                             capture_output=True, text=True, timeout=600)
        driver_s = time.monotonic() - t1
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
        assert run.returncode == 0 and lines, (run.stdout[-3000:], run.stderr[-5000:],
                                               (tmp_path / "head.log").read_text()[-2000:])
        result = json.loads(lines[-1].removeprefix("RESULT "))
    finally:
        t2 = time.monotonic()
        if worker is not None:
            _stop(worker)
        _stop(head)
    print(f"\nnodes up {nodes_up_s:.1f}s; driver process {driver_s:.1f}s: {result['times']}; "
          f"nodes stopped in {time.monotonic() - t2:.1f}s")
    assert len(result["cluster_nodes"]) == 2
    nodes = set(result["replica_nodes"].values())
    assert len(result["replica_nodes"]) == 2 and nodes == set(result["cluster_nodes"]), result
    assert result["rest_ok"] and result["grpc_ok"]
    assert result["logged_rows"] == 50  # both predictions, every row, from both replicas
    assert result["monitoring_nodes"] and set(result["monitoring_nodes"]) <= nodes
    assert result["replicas_after_undeploy"] == {}
    assert session_members(head.pid) == [] and (worker is None or session_members(worker.pid) == [])
