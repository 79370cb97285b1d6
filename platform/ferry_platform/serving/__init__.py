"""Serving capability: run releases on Ray Serve, REST and gRPC over one data plane.

The interface (routes, states, access) is imported at once; the runtime (Ray Serve, the
local head) and its config only when first asked for, so a Serve replica,
which imports this package for its data plane, loads what it serves and nothing of the
control plane."""

import importlib as _importlib
import typing as _typing

from ferry_platform.serving._interface import (
    AccessSource,
    AppState,
    Phase,
    Route,
    RouterAccess,
    ServingRuntime,
    untimed,
)

if _typing.TYPE_CHECKING:
    from ferry_platform.serving._batch import (
        BatchSpec,
        SourceInfo,
        check_dest,
        inspect_source,
        lineage_file,
        run_batch,
        type_problems,
    )
    from ferry_platform.serving._config import Autoscaling, ServeMode, ServingConfig
    from ferry_platform.serving._dataplane import MAX_ROWS, DataPlane
    from ferry_platform.serving._environment import serve_env, worker_environment
    from ferry_platform.serving._head import LocalRayHead
    from ferry_platform.serving._ray import (
        ConfigLock,
        RayServeRuntime,
        ferry_replica_actor_names,
        replica_nodes,
    )

_LAZY = {"BatchSpec": "_batch", "SourceInfo": "_batch", "check_dest": "_batch",
         "inspect_source": "_batch", "lineage_file": "_batch", "run_batch": "_batch",
         "type_problems": "_batch",
         "MAX_ROWS": "_dataplane", "DataPlane": "_dataplane",
         "Autoscaling": "_config", "ServeMode": "_config", "ServingConfig": "_config",
         "worker_environment": "_environment", "serve_env": "_environment",
         "LocalRayHead": "_head", "ConfigLock": "_ray", "RayServeRuntime": "_ray",
         "ferry_replica_actor_names": "_ray", "replica_nodes": "_ray"}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_ROWS",
    "BatchSpec",
    "SourceInfo",
    "AccessSource",
    "AppState",
    "Autoscaling",
    "ConfigLock",
    "DataPlane",
    "LocalRayHead",
    "Phase",
    "RayServeRuntime",
    "Route",
    "RouterAccess",
    "ServeMode",
    "ServingConfig",
    "ServingRuntime",
    "check_dest",
    "ferry_replica_actor_names",
    "inspect_source",
    "lineage_file",
    "replica_nodes",
    "run_batch",
    "serve_env",
    "type_problems",
    "untimed",
    "worker_environment",
]
