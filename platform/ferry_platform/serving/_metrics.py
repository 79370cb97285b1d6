"""Service metrics of the data plane: counted in each serving process, summed in one place.

Each router replica counts the requests it answers (by deployment, release, arm and
status) and their latency (a histogram); each release replica counts the requests it
refused (by column and reason) and what its prediction log wrote and dropped. Every
``FERRY_METRICS_PUSH_S`` a process pushes its cumulative counts to one named Ray actor,
:class:`MetricsHub` (``ferry-metrics``, no CPU), which keeps the latest counts of every
process and sums them; the control plane's ``GET /v1/metrics`` asks it for the sums and
renders them for Prometheus. Counts of a process that stopped stay in the sums, so totals
never go down while the hub lives.

Why not Ray's own metrics (``ray.util.metrics``)? They are exported by each node's metrics
agent, on a port per node: Prometheus would have to discover every Ray node, and the
control plane could not show a deployment's totals without scraping them all. One hub
answers both, on a local Ray and on a cluster alike (docs/monitoring.md).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from bisect import bisect_left
from typing import Any

from ferry_platform.serving._names import NAMESPACE

log = logging.getLogger("ferry.metrics")

HUB = "ferry-metrics"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                     10.0)
"""Upper bounds of the latency histogram, seconds (Prometheus ``le``; +Inf implied)."""

RequestKey = tuple[str, str, str, str]  # deployment, release, arm, status
ReleaseKey = tuple[str, str, str]  # deployment, release, arm


class ProcessMetrics:
    """The counts of one serving process (updated on the event loop; read by the pusher)."""

    def __init__(self) -> None:
        self.requests: dict[RequestKey, int] = {}
        self.latency: dict[ReleaseKey, list[float]] = {}  # bucket counts..., +Inf, sum
        self.errors: dict[tuple[str, str, str, str], int] = {}  # dep, release, arm, code
        self.rejected: dict[tuple[str, str, str, str], int] = {}  # dep, release, column, why
        self.log: dict[tuple[str, str], int] = {}  # (deployment, written|dropped) -> rows
        self.process = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._pusher: threading.Thread | None = None

    def request(self, deployment: str, release: str, arm: str, status: int,
                seconds: float, code: str | None = None) -> None:
        key = (deployment, release, arm, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(key[:3])
        if hist is None:
            hist = self.latency[key[:3]] = [0.0] * (len(LATENCY_BUCKETS_S) + 2)
        hist[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        hist[-1] += seconds
        if code is not None:
            ekey = (deployment, release, arm, code)
            self.errors[ekey] = self.errors.get(ekey, 0) + 1
        self._ensure_pusher()

    def refused(self, deployment: str, release: str,
                problems: list[tuple[str, str]]) -> None:
        for column, reason in problems:
            key = (deployment, release, column[:100], reason[:40])
            self.rejected[key] = self.rejected.get(key, 0) + 1
        self._ensure_pusher()

    def snapshot(self) -> dict[str, Any]:
        from ferry_platform.serving._predlog import shared

        stats = shared().stats()
        return {"requests": dict(self.requests),
                "latency": {k: list(v) for k, v in self.latency.items()},
                "errors": dict(self.errors), "rejected": dict(self.rejected),
                "log_written": stats["written"], "log_dropped": stats["dropped"]}

    # -- pushing ----------------------------------------------------------------------------
    def _ensure_pusher(self) -> None:
        if self._pusher is None:
            self._pusher = threading.Thread(target=self._push_forever, name="ferry-metrics",
                                            daemon=True)
            self._pusher.start()

    def _push_forever(self) -> None:
        try:
            every = max(0.2, float(os.environ.get("FERRY_METRICS_PUSH_S", "2")))
        except ValueError:
            every = 2.0
        hub: Any = None
        while True:
            time.sleep(every)
            try:
                import ray

                if not ray.is_initialized():
                    continue
                if hub is None:
                    hub = ray.remote(MetricsHub).options(
                        name=HUB, namespace=NAMESPACE, lifetime="detached",
                        get_if_exists=True, num_cpus=0).remote()
                hub.push.remote(self.process, self.snapshot())
            except Exception as e:  # noqa: BLE001 - metrics must never hurt serving
                hub = None
                log.debug("could not push metrics: %s", e)


class MetricsHub:
    """Latest cumulative counts of every serving process, summed on request."""

    def __init__(self) -> None:
        self._by_process: dict[str, dict[str, Any]] = {}

    def push(self, process: str, snapshot: dict[str, Any]) -> None:
        self._by_process[process] = snapshot

    def snapshot(self) -> dict[str, Any]:
        return merge(list(self._by_process.values()))


def merge(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of several processes' snapshots."""
    out: dict[str, Any] = {"requests": {}, "latency": {}, "errors": {}, "rejected": {},
                           "log_written": 0, "log_dropped": 0}
    for snap in snapshots:
        for part in ("requests", "errors", "rejected"):
            for k, v in snap.get(part, {}).items():
                out[part][k] = out[part].get(k, 0) + v
        for k, v in snap.get("latency", {}).items():
            have = out["latency"].get(k)
            out["latency"][k] = list(v) if have is None else [a + b for a, b in zip(have, v,
                                                                                   strict=True)]
        out["log_written"] += int(snap.get("log_written", 0))
        out["log_dropped"] += int(snap.get("log_dropped", 0))
    return out


def hub_snapshot() -> dict[str, Any]:
    """The data plane's summed counts (empty when no hub runs yet)."""
    import ray

    try:
        hub = ray.get_actor(HUB, namespace=NAMESPACE)
        return dict(ray.get(hub.snapshot.remote(), timeout=10))
    except Exception as e:  # noqa: BLE001 - no hub yet: nothing counted
        log.debug("no data-plane metrics: %s", e)
        return merge([])


_PROCESS: ProcessMetrics | None = None


def process_metrics() -> ProcessMetrics:
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = ProcessMetrics()
    return _PROCESS
