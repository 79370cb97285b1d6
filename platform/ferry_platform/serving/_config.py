"""Serving's own configuration: the few values the serving runtime and its processes
need, typed and frozen. The composition root builds it from the platform's settings
(:meth:`ferry_platform.Settings.serving_config`) and passes it in; serving never reads the
control plane's settings, so neither the runtime nor a replica imports them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class ServeMode(str, Enum):
    """How Ray Serve takes traffic in.

    ``throughput``: Ray's throughput-optimized mode behind its bundled HAProxy (one stable
    port per protocol, requests go straight to replicas). ``proxy``: Ray's classic proxy
    actors (slower, no extra binary). See docs/performance.md for the measurements.
    """

    throughput = "throughput"
    proxy = "proxy"


@dataclass(frozen=True)
class Autoscaling:
    """How Ray Serve scales an autoscaled deployment between its bounds (the bounds come
    with each deployment; these are the platform's policy, FERRY_AUTOSCALE_*)."""

    target_ongoing_requests: float = 2.0
    """Requests in flight per replica Serve aims at (``target_ongoing_requests``)."""
    upscale_delay_s: float = 3.0
    downscale_delay_s: float = 30.0
    metrics_interval_s: float = 1.0
    """How often replicas report their load, and the window it is averaged over (x2)."""


@dataclass(frozen=True)
class ServingConfig:
    """What the serving runtime needs; built once, passed in. Field names follow the
    ``FERRY_SERVE_*`` settings they come from (docs/configuration.md)."""

    home: Path
    """Local state: the local Ray head's record, HAProxy's files are keyed by it."""
    bentoml_home: str
    ray_address: str = ""
    ray_num_cpus: int = 2
    serve_mode: ServeMode = ServeMode.throughput
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 9000
    public_host: str = "127.0.0.1"
    haproxy_stats_port: int = 8404
    haproxy_metrics_port: int = 9101
    max_body_mb: float = 16.0
    replica_num_cpus: float = 0.25
    max_ongoing_requests: int = 100
    router_replicas: int = 2
    deploy_timeout_s: float = 300.0
    preflight_warm: bool = True
    """Keep one preflight process started ahead (FERRY_PREFLIGHT_WARM)."""
    autoscaling: Autoscaling = Autoscaling()
    # What serving processes read from their environment (_predlog.LogConfig.env):
    monitoring: bool = True
    prediction_log_uri: str = ""
    prediction_log_sample: float = 1.0
    prediction_log_queue: int = 100_000
    prediction_log_flush_s: float = 1.0
    metrics_push_s: float = 2.0

    @property
    def max_body_bytes(self) -> int:
        """The data plane's size limit in bytes (FERRY_SERVE_MAX_BODY_MB)."""
        return int(self.max_body_mb * 2**20)

    @property
    def http_url(self) -> str:
        return f"http://{self.public_host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.public_host}:{self.grpc_port}"
