"""Serving capability: run releases on Ray Serve, REST and gRPC over one data plane."""

from ferry_platform.serving._dataplane import MAX_ROWS, DataPlane
from ferry_platform.serving._environment import worker_environment
from ferry_platform.serving._head import LocalRayHead
from ferry_platform.serving._interface import (
    AccessSource,
    AppState,
    Phase,
    Route,
    RouterAccess,
    ServingRuntime,
    untimed,
)
from ferry_platform.serving._ray import (
    ConfigLock,
    RayServeRuntime,
    ferry_replica_actor_names,
    replica_nodes,
    serve_env,
)

__all__ = [
    "MAX_ROWS",
    "AccessSource",
    "AppState",
    "ConfigLock",
    "DataPlane",
    "LocalRayHead",
    "Phase",
    "RayServeRuntime",
    "Route",
    "RouterAccess",
    "ServingRuntime",
    "ferry_replica_actor_names",
    "replica_nodes",
    "serve_env",
    "untimed",
    "worker_environment",
]
