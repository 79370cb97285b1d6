"""Ray Serve as Ferry's serving runtime.

One Serve application per deployment name, route prefix ``/<name>``, its ingress one
deployment (``release``) of :class:`FerryReplica`. A new release of the same name is a
rolling update of that deployment. REST and gRPC reach the same replicas: Ferry's
``ferry.v1.Predictor`` servicer is registered with Serve's gRPC options, and gRPC callers
pick the application with ``application`` metadata.

By default Serve runs in Ray's throughput-optimized mode behind its bundled HAProxy
(``FERRY_SERVE_MODE=throughput``): requests go from one stable port straight to the
replicas instead of through proxy actors. docs/performance.md has the measurements.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ferry_contract import Endpoints, PlatformUnavailable, Protocol, ReleaseFailed
from ferry_contract.proto import SERVICER_FUNCTION
from ferry_platform._settings import ServeMode, Settings
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.serving._interface import AppState

log = logging.getLogger("ferry.serving")

DEPLOYMENT = "release"


def haproxy_dir(settings: Settings) -> Path:
    """HAProxy's files; short, because its admin socket path must fit in 97 characters."""
    tag = hashlib.sha256(str(settings.home).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"ferry-haproxy-{tag}"


FORWARDED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


def serve_env(settings: Settings) -> dict[str, str]:
    """Environment Ray processes need for the configured serve mode."""
    env = {
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ferry's replicas run in the environment Ferry is installed in. Without this, a
        # driver started with `uv run` makes Ray re-run every worker under `uv run` with the
        # whole working directory (virtualenv included) uploaded as a runtime env.
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        "BENTOML_HOME": settings.bentoml_home,
        "BENTOML_DO_NOT_TRACK": "True",
    }
    # An S3-compatible endpoint and region reach replicas too (releases and the feature
    # registry may live on S3); credentials do not: replicas use their node's role.
    env.update({k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)})
    if settings.serve_mode is ServeMode.throughput:
        hap = haproxy_dir(settings)
        env.update({
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
            "RAY_SERVE_HAPROXY_STATS_PORT": str(settings.serve_haproxy_stats_port),
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(hap / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(hap / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(hap),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(hap / "server-state"),
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
        })
    return env


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    last = text[-1] if text else ""
    return f"{type(cause).__name__}: {last}" if last else type(cause).__name__


class RayServeRuntime:
    """:class:`ServingRuntime` on a local Ray or an existing Ray cluster."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started = False
        self._owns_cluster = not settings.ray_address

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        env = serve_env(self._settings)
        os.environ.update(env)
        if self._settings.serve_mode is ServeMode.throughput:
            haproxy_dir(self._settings).mkdir(parents=True, exist_ok=True)
        import ray
        from ray import serve
        from ray.serve.config import ControllerOptions, HTTPOptions, gRPCOptions

        try:
            if self._settings.ray_address:
                ray.init(address=self._settings.ray_address, namespace="ferry",
                         log_to_driver=False)
            else:
                ray.init(num_cpus=self._settings.ray_num_cpus, include_dashboard=False,
                         namespace="ferry", log_to_driver=False)
        except Exception as e:
            raise PlatformUnavailable(
                f"cannot start or reach Ray (FERRY_RAY_ADDRESS={self._settings.ray_address!r}): "
                f"{e}"
            ) from e
        serve.start(
            http_options=HTTPOptions(host=self._settings.serve_host,
                                     port=self._settings.serve_http_port),
            grpc_options=gRPCOptions(port=self._settings.serve_grpc_port,
                                     grpc_servicer_functions=[SERVICER_FUNCTION]),
            controller_options=ControllerOptions(runtime_env={"env_vars": env}),
        )
        self._started = True

    def stop(self) -> None:
        """Stop serving (local cluster) or just disconnect (external cluster)."""
        import ray
        from ray import serve

        if not ray.is_initialized():
            return
        if self._owns_cluster:
            try:
                serve.shutdown()
            except Exception as e:  # noqa: BLE001 - shutting down anyway
                log.warning("serve.shutdown failed: %s", e)
        ray.shutdown()
        self._started = False

    def health(self) -> str:
        import ray

        return "connected" if ray.is_initialized() else "down"

    # -- releases -----------------------------------------------------------------------
    def _spec(self, manifest: ReleaseManifest, protocol: Protocol,
              features: FeatureBinding | None) -> dict[str, Any]:
        return {
            "manifest": manifest.model_dump(mode="json"),
            "protocol": protocol.value,
            "bentoml_home": self._settings.bentoml_home,
            "features": features.model_dump(mode="json") if features else None,
        }

    def preflight(self, manifest: ReleaseManifest, protocol: Protocol,
                  features: FeatureBinding | None = None) -> None:
        import ray

        @ray.remote(num_cpus=0, max_calls=1, max_retries=0)
        def _load(spec: dict[str, Any]) -> str:
            from ferry_platform.serving._replica import FerryReplica

            return FerryReplica(spec).manifest.release_id

        ref = _load.options(runtime_env={"env_vars": serve_env(self._settings)}).remote(
            self._spec(manifest, protocol, features))
        try:
            ray.get(ref, timeout=self._settings.deploy_timeout_s)
        except ray.exceptions.GetTimeoutError as e:
            ray.cancel(ref, force=True)
            raise ReleaseFailed(
                f"release {manifest.release_id} did not load within "
                f"{self._settings.deploy_timeout_s:.0f}s (FERRY_DEPLOY_TIMEOUT_S)") from e
        except Exception as e:
            raise ReleaseFailed(
                f"release {manifest.release_id} cannot be loaded: {_cause(e)}. "
                "Nothing was changed; the current release (if any) keeps serving.",
                details={"release_id": manifest.release_id, "reason": _cause(e)},
            ) from e

    def apply(self, name: str, manifest: ReleaseManifest, replicas: int, protocol: Protocol,
              features: FeatureBinding | None = None) -> None:
        from ray import serve
        from ray.serve.api import RunTarget, run_many

        from ferry_platform.serving._replica import FerryReplica

        s = self._settings
        base: Any = serve.deployment(FerryReplica)
        deployment = base.options(
            name=DEPLOYMENT,
            num_replicas=replicas,
            max_ongoing_requests=s.max_ongoing_requests,
            ray_actor_options={
                "num_cpus": s.replica_num_cpus,
                "runtime_env": {"env_vars": serve_env(s)},
            },
            health_check_period_s=10,
            graceful_shutdown_timeout_s=5,
        )
        app = deployment.bind(self._spec(manifest, protocol, features))
        run_many([RunTarget(target=app, name=name, route_prefix=f"/{name}")],
                 wait_for_ingress_deployment_creation=False,
                 wait_for_applications_running=False)
        self._wait_running(name, manifest.release_id)

    def _wait_running(self, name: str, release_id: str) -> None:
        deadline = time.monotonic() + self._settings.deploy_timeout_s
        state = self.state(name)
        while time.monotonic() < deadline:
            state = self.state(name)
            if state.status == "running":
                return
            if state.status == "deploy_failed":
                break
            time.sleep(0.25)
        raise ReleaseFailed(
            f"release {release_id} did not become healthy on Ray Serve "
            f"(status {state.status}): {state.message or 'timed out'}",
            details={"release_id": release_id, "status": state.status},
        )

    def delete(self, name: str) -> None:
        from ray import serve

        if name in self.names():
            serve.delete(name, _blocking=True)

    def state(self, name: str) -> AppState:
        from ray import serve

        app = serve.status().applications.get(name)
        if app is None:
            return AppState(status="not_found")
        replicas: dict[str, int] = {}
        dep = app.deployments.get(DEPLOYMENT)
        if dep is not None:
            replicas = {str(k.value if hasattr(k, "value") else k).lower(): int(v)
                        for k, v in dep.replica_states.items()}
        status = str(getattr(app.status, "value", app.status)).lower()
        return AppState(status=status, message=app.message or "", replicas=replicas)

    def names(self) -> list[str]:
        from ray import serve

        return sorted(serve.status().applications.keys())

    def release_of(self, name: str) -> str | None:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from ray import serve

        if self.state(name).status != "running":
            return None

        async def ask() -> str:
            # In throughput mode handles route on the caller's event loop: give it one.
            return str(await serve.get_app_handle(name).release_id.remote())

        try:
            with ThreadPoolExecutor(1, thread_name_prefix="ferry-ask") as pool:
                return pool.submit(asyncio.run, ask()).result(timeout=60)
        except Exception as e:  # noqa: BLE001 - not answering is "not serving"
            log.warning("could not ask %s for its release: %s", name, e)
            return None

    def endpoints(self, name: str, protocol: Protocol) -> Endpoints:
        rest = f"{self._settings.serve_http_url}/{name}" if protocol is not Protocol.grpc else None
        grpc = self._settings.serve_grpc_target if protocol is not Protocol.rest else None
        return Endpoints(rest=rest, grpc=grpc, grpc_application=name if grpc else None)


def replica_nodes(app: str) -> dict[str, str]:
    """Live replica actors of ``app`` and the Ray node each runs on (from the GCS)."""
    import ray

    out: dict[str, str] = {}
    for info in ray._private.state.actors(actor_state_name="ALIVE").values():
        name = str(info.get("Name", ""))
        if name.startswith(f"SERVE_REPLICA::{app}#"):
            out[name] = str(info.get("Address", {}).get("NodeID", ""))
    return out


def ferry_replica_actor_names() -> list[str]:
    """Names of live Serve replica actors (to check that nothing is orphaned)."""
    import ray

    return sorted(
        a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
        if str(a.get("name", "")).startswith("SERVE_REPLICA::")
    )
