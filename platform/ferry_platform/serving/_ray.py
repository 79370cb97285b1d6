"""Ray Serve as Ferry's serving runtime: connecting, applying, waiting, reading state.

The serving runtime is cut in three: the environment its processes run with
(``_environment``), the declarative application config as pure data (``_appconfig``, no
Ray, unit-tested alone), and this module, which applies that config to a running Serve.

Applications are deployed declaratively (the controller's ``apply_config``, as
``serve deploy`` does), always as the whole set Ferry runs. Each deployment name is one
router application ``<name>`` (route ``/<name>``, gRPC application ``<name>``) in front of
one application per live release, ``<name>.<release id>``, each a deployment of
:class:`FerryReplica` without an HTTP route. The router's weights are its ``user_config``:
Serve reconfigures running routers in place, so weight changes, promotion and rollback
restart nothing; a new release starts beside the old one and only gets traffic once it
is healthy. REST and gRPC reach the same routers: Ferry's ``ferry.v1.Predictor`` and the
Open Inference Protocol's ``inference.GRPCInferenceService`` servicers are registered with
Serve's gRPC options.

By default Serve runs in Ray's throughput-optimized mode behind its bundled HAProxy
(``FERRY_SERVE_MODE=throughput``): requests go from one stable port straight to the
replicas instead of through proxy actors. docs/performance.md has the measurements.

Serving outlives the control plane: without ``FERRY_RAY_ADDRESS`` Ray runs as a head of its
own (:class:`~ferry_platform.serving._head.LocalRayHead`), and the control plane only
connects to it, so stopping or killing the control plane leaves Serve answering. Several
control-plane processes may share one Serve: every read-modify-write of the declarative
config holds the ``config_lock`` the runtime is given (the platform wires a database-wide
lock), so no process's change is lost to another's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

from ferry_contract import Endpoints, PlatformUnavailable, Protocol, ReleaseFailed
from ferry_contract.proto import INFERENCE_SERVICER_FUNCTION, SERVICER_FUNCTION
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.serving import _appconfig as A  # noqa: N812 - the builders, short
from ferry_platform.serving._config import ServeMode, ServingConfig
from ferry_platform.serving._environment import haproxy_dir, serve_env
from ferry_platform.serving._head import LocalRayHead
from ferry_platform.serving._interface import (
    AccessSource,
    AppState,
    Phase,
    Route,
    RouterAccess,
    untimed,
)
from ferry_platform.serving._names import (
    NAMESPACE,
    ROUTER_DEPLOYMENT,
    SHADOW_LOG,
    owner,
    release_app_name,
)
from ferry_platform.serving._preflight import WarmPreflight
from ferry_platform.serving._router import ShadowLog

__all__ = ["ConfigLock", "RayServeRuntime", "ferry_replica_actor_names", "process_config_lock",
           "release_app_name", "replica_nodes", "serve_env"]

log = logging.getLogger("ferry.serving")


# Serve caches handles per process and binds each to the event loop that first used it:
# one loop thread per process for every handle call the control plane makes. Without a
# lock shared by every control-plane process, one lock per process for every
# read-modify-write of the declarative config.
_CONFIG_LOCK = threading.Lock()
_LOOP_LOCK = threading.Lock()
_LOOP: Any = None


def _handle_loop() -> Any:
    import asyncio

    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="ferry-serve-handles",
                             daemon=True).start()
        return _LOOP


ConfigLock = Callable[[], AbstractContextManager[object]]
"""Makes the context a read-modify-write of Serve's declarative config runs in: it must
exclude every other process that changes the same Serve (a database-wide lock)."""


def process_config_lock() -> AbstractContextManager[object]:
    """The default :data:`ConfigLock`: enough for one control-plane process only."""
    return _CONFIG_LOCK


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    last = text[-1] if text else ""
    return f"{type(cause).__name__}: {last}" if last else type(cause).__name__


class RayServeRuntime:
    """:class:`ServingRuntime` on a local Ray or an existing Ray cluster."""

    def __init__(self, config: ServingConfig, worker_secrets: dict[str, str] | None = None,
                 config_lock: ConfigLock | None = None) -> None:
        """``worker_secrets``: environment the serving processes need and the Serve config
        must not carry (e.g. the online store's password); the local head is started with
        them, a cluster's workers get them from the cluster (a Kubernetes Secret).
        ``config_lock``: held around every read-modify-write of Serve's config (the
        platform gives a lock of the database every control-plane process shares)."""
        self._config = config
        self._worker_secrets = dict(worker_secrets or {})
        self._started = False
        self._config_lock = config_lock or process_config_lock
        self.head = None if config.ray_address else LocalRayHead(config.home)
        self._warm: WarmPreflight | None = None  # FERRY_PREFLIGHT_WARM

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Connect to Ray (the configured cluster, or this home's local head, started if
        none runs) and to Serve (started if it does not run yet)."""
        env = serve_env(self._config)
        os.environ.update(env)
        if self._config.serve_mode is ServeMode.throughput:
            haproxy_dir(self._config).mkdir(parents=True, exist_ok=True)
        import ray
        from ray import serve
        from ray.serve.config import ControllerOptions, HTTPOptions, gRPCOptions

        address = self._config.ray_address
        if self.head is not None:
            # the head and its workers get serve_env and the serving secrets, nothing else
            address = self.head.ensure(self._config.ray_num_cpus,
                                       {**env, **self._worker_secrets})
        try:
            ray.init(address=address, namespace="ferry", log_to_driver=False)
        except Exception as e:
            raise PlatformUnavailable(
                f"cannot reach Ray at {address!r} (FERRY_RAY_ADDRESS="
                f"{self._config.ray_address!r}): {e}") from e

        def start_serve() -> None:
            serve.start(
                http_options=HTTPOptions(host=self._config.host,
                                         port=self._config.http_port),
                grpc_options=gRPCOptions(port=self._config.grpc_port,
                                         grpc_servicer_functions=[
                                             SERVICER_FUNCTION, INFERENCE_SERVICER_FUNCTION]),
                controller_options=ControllerOptions(runtime_env={"env_vars": env}),
            )

        with self._locked():  # two processes starting at once start one controller
            try:
                start_serve()
            except ray.exceptions.ActorDiedError as e:
                # The controller replaced a proxy that missed its readiness deadline (it
                # restarts proxies on its own); it exists now, so a second start connects.
                log.warning("a Serve proxy died while starting (%s); the controller "
                            "restarts it", _cause(e))
                start_serve()
        ray.remote(ShadowLog).options(name=SHADOW_LOG, namespace=NAMESPACE, lifetime="detached",
                                      get_if_exists=True, num_cpus=0).remote()
        if self._config.preflight_warm:
            self._warm = WarmPreflight(env)
            self._warm.warm()
        self._started = True

    def stop(self) -> None:
        """Disconnect from Ray. Serve keeps serving: the local head is stopped by
        ``ferry down`` (:meth:`LocalRayHead.stop`), a cluster by whoever runs it."""
        import ray

        if self._warm is not None:
            self._warm.stop()
            self._warm = None
        if ray.is_initialized():
            ray.shutdown()
        self._started = False

    def health(self) -> str:
        import ray

        return "connected" if ray.is_initialized() else "down"

    @staticmethod
    def _running() -> bool:
        """Whether this process is connected to Ray. Serve's APIs would otherwise start a
        local Ray of their own, inside the control plane, on first use."""
        import ray

        return bool(ray.is_initialized())

    def _require_running(self) -> None:
        if not self._running():
            raise PlatformUnavailable(
                "the serving runtime is not running in this control plane (Ray is not "
                "connected); start the platform with `ferry up`, or check FERRY_RAY_ADDRESS")

    # -- releases -----------------------------------------------------------------------
    def preflight(self, manifest: ReleaseManifest, protocol: Protocol,
                  features: FeatureBinding | None = None) -> None:
        import ray

        self._require_running()
        spec = A.replica_spec(self._config, manifest, protocol, features)
        loader = None
        if self._warm is not None:  # a process started ahead, used for this load only
            loader = self._warm.take()
            ref = loader.load.remote(spec)
        else:
            @ray.remote(num_cpus=0, max_calls=1, max_retries=0)
            def _load(spec: dict[str, Any]) -> str:
                from ferry_platform.serving._replica import FerryReplica

                return FerryReplica(spec).manifest.release_id

            ref = _load.options(runtime_env={"env_vars": serve_env(self._config)}).remote(spec)
        try:
            ray.get(ref, timeout=self._config.deploy_timeout_s)
        except ray.exceptions.GetTimeoutError as e:
            if loader is None:  # a task; a warm loader (an actor) is killed below instead
                ray.cancel(ref, force=True)
            raise ReleaseFailed(
                f"release {manifest.release_id} did not load within "
                f"{self._config.deploy_timeout_s:.0f}s (FERRY_DEPLOY_TIMEOUT_S)") from e
        except Exception as e:
            raise ReleaseFailed(
                f"release {manifest.release_id} cannot be loaded: {_cause(e)}. "
                "Nothing was changed; the current release (if any) keeps serving.",
                details={"release_id": manifest.release_id, "reason": _cause(e)},
            ) from e
        finally:
            if loader is not None and self._warm is not None:
                self._warm.retire(loader)  # killed: it never loads a second model

    # -- the declarative config ---------------------------------------------------------
    def _client(self) -> Any:
        from ray.serve.context import _get_global_client

        return _get_global_client()

    def _configs(self) -> dict[str, dict[str, Any]]:
        """The declarative config of every application now applied, by application name."""
        self._require_running()
        details = self._client().get_serve_details()
        out = {}
        for app, info in (details.get("applications") or {}).items():
            cfg = info.get("deployed_app_config")
            if cfg:
                out[app] = cfg
        return out

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self._config_lock():
                yield
        except TimeoutError as e:
            raise PlatformUnavailable(
                f"Serve's configuration stayed locked by another control-plane process: {e}. "
                "Retry; if it persists, look for a control plane stuck in a change.") from e

    def _change(self, edit: Callable[[dict[str, dict[str, Any]]], bool | None]) -> None:
        """Read the whole set, edit it, apply it (unless ``edit`` returns False: nothing to
        change), under the config lock: one change at a time across every control-plane
        process sharing this Serve."""
        from ray.serve.schema import ServeApplicationSchema, ServeDeploySchema

        self._require_running()
        with self._locked():
            configs = self._configs()
            if edit(configs) is False:
                return
            apps = [ServeApplicationSchema(**cfg) for cfg in configs.values()]
            self._client().deploy_apps(ServeDeploySchema(applications=apps))

    # -- releases -----------------------------------------------------------------------
    def apply(self, name: str, routes: list[Route], sticky_key: str | None = None,
              access: AccessSource | None = None, phase: Phase = untimed) -> None:
        if not routes:
            raise ValueError("apply needs at least one route; use delete() to remove")
        wanted = {release_app_name(name, r.manifest.release_id): r for r in routes}
        configs = self._configs()
        starting = [app for app in wanted if app not in configs]
        first = name not in configs  # no router yet: nothing of this name serves
        # 1. Start the releases that do not run yet, beside the ones that do; no traffic.
        # (A first deploy starts them together with the router, below.)
        if starting and not first:
            with phase("start release"):
                self._change(lambda c: c.update(
                    {app: A.release_config(self._config, name, wanted[app]) for app in starting}))
                try:
                    for app in starting:
                        self._wait_app(app, wanted[app].manifest.release_id)
                except ReleaseFailed:
                    self._change(A.without(starting))
                    raise
        # 2. Route: only the router's user_config changes (and replica counts, if asked).
        generation = int(A.user_config_of(configs.get(name)).get("generation", 0)) + 1
        user_config = A.router_user_config(routes, name, generation, sticky_key)
        # Who may predict: computed under the config lock (see AccessSource).
        route = A.route_edit(self._config, name, routes, user_config,
                             (lambda: access().config()) if access is not None else None)

        if first:
            # One config change starts the releases and the router together; if either never
            # becomes healthy both are removed again (nothing of this name served before).
            with phase("start release and router"):
                self._change(route)
                try:
                    for app in starting:
                        self._wait_app(app, wanted[app].manifest.release_id)
                    self._wait_router(name, generation)
                except ReleaseFailed:
                    self._change(A.without([*starting, name]))
                    raise
        else:
            with phase("switch traffic"):
                self._change(route)
                self._wait_router(name, generation)
        # 3. Stop the releases no longer routed (their in-flight requests drain).
        stale = [app for app in self._configs() if owner(app) == name and app != name
                 and app not in wanted]
        if stale:
            with phase("stop unrouted releases"):
                time.sleep(1.0)  # requests the routers sent before the switch finish first
                self._change(A.without(stale))

    def set_access(self, name: str, access: AccessSource) -> bool:
        import ray

        if not ray.is_initialized():
            return False
        found = False
        generation: int | None = None

        def edit(c: dict[str, dict[str, Any]]) -> bool:
            nonlocal found, generation
            for dep in (c.get(name) or {}).get("deployments", []):
                if dep.get("name") == ROUTER_DEPLOYMENT:
                    found = True
                    wanted = access().config()
                    current = dict(dep.get("user_config") or {})
                    if current.get("access") == wanted:
                        return False
                    generation = int(current.get("generation", 0)) + 1
                    dep["user_config"] = {**current, "access": wanted,
                                          "generation": generation}
                    return True
            return False

        self._change(edit)
        if generation is not None:
            # Serve reconfigures router replicas one at a time: until every one has the new
            # list, a request may meet one that still has the old (a token just issued
            # refused, one just revoked let through). Return once all route by it.
            self._wait_router(name, generation)
        return found

    def accesses(self) -> dict[str, RouterAccess]:
        if not self._running():
            return {}
        return {app: RouterAccess.from_config(A.user_config_of(cfg).get("access"))
                for app, cfg in self._configs().items() if "." not in app}

    def _wait_app(self, app: str, release_id: str) -> None:
        deadline = time.monotonic() + self._config.deploy_timeout_s
        state = self._app_state(app)
        while time.monotonic() < deadline:
            state = self._app_state(app)
            if state.status == "running":
                return
            if state.status in ("deploy_failed", "unhealthy"):
                break
            time.sleep(0.1)
        raise ReleaseFailed(
            f"release {release_id} did not become healthy on Ray Serve "
            f"(status {state.status}): {state.message or 'timed out'}. It received no "
            "traffic; what was serving keeps serving.",
            details={"release_id": release_id, "status": state.status},
        )

    def _wait_router(self, name: str, generation: int) -> None:
        """Until the router runs and its replicas route by ``generation``."""
        deadline = time.monotonic() + self._config.deploy_timeout_s
        seen = 0
        while time.monotonic() < deadline:
            state = self._app_state(name)
            if state.status in ("deploy_failed",):
                raise ReleaseFailed(f"the router of {name} failed to deploy: {state.message}")
            if state.status == "running":
                answer = self._ask(name, "config_generation")
                seen = seen + 1 if isinstance(answer, int) and answer >= generation else 0
                # Several answers in a row: every router replica has been reconfigured.
                if seen >= 4 * self._config.router_replicas:
                    return
                time.sleep(0.02)
                continue
            time.sleep(0.1)
        raise ReleaseFailed(f"the router of {name} did not take its new routes within "
                            f"{self._config.deploy_timeout_s:.0f}s")

    def delete(self, name: str) -> None:
        from ray import serve

        configs = self._configs()
        mine = [app for app in configs if owner(app) == name]
        if mine:
            self._change(A.without(mine))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = [a for a in serve.status().applications if owner(a) == name]
            if not left:
                return
            for app in left:
                if app not in configs:  # an imperatively deployed app (older Ferry)
                    serve.delete(app, _blocking=True)
            time.sleep(0.2)

    def _app_state(self, app: str) -> AppState:
        from ray import serve

        info = serve.status().applications.get(app)
        if info is None:
            return AppState(status="not_found")
        replicas: dict[str, int] = {}
        for dep in info.deployments.values():
            for k, v in dep.replica_states.items():
                key = str(k.value if hasattr(k, "value") else k).lower()
                replicas[key] = replicas.get(key, 0) + int(v)
        status = str(getattr(info.status, "value", info.status)).lower()
        return AppState(status=status, message=info.message or "", replicas=replicas)

    def state(self, name: str) -> AppState:
        """The router's state, or the worst of its releases'; replicas of the releases."""
        from ray import serve

        if not self._running():
            return AppState(status="runtime_down")
        apps = [a for a in serve.status().applications if owner(a) == name]
        if name not in apps:
            return AppState(status="not_found")
        router = self._app_state(name)
        worst, replicas, running = router, dict[str, int](), dict[str, int]()
        for app in apps:
            if app == name:
                continue
            st = self._app_state(app)
            for k, v in st.replicas.items():
                replicas[k] = replicas.get(k, 0) + v
            running[app.split(".", 1)[1]] = st.replicas.get("running", 0)
            if worst.status == "running" and st.status != "running":
                worst = st
        return AppState(status=worst.status, message=worst.message, replicas=replicas,
                        router_replicas=router.replicas, running=running)

    def names(self) -> list[str]:
        from ray import serve

        if not self._running():
            return []
        return sorted({owner(a) for a in serve.status().applications})

    def releases_of(self, name: str) -> set[str]:
        """Release ids with an application of ``name`` in the applied config, routed or not."""
        return {app.split(".", 1)[1] for app in self._configs()
                if owner(app) == name and app != name}

    def routes_of(self, name: str) -> dict[str, int]:
        """From the applied config (the router exists); not from the status, which flickers
        to DEPLOYING for every application whenever the whole set is applied."""
        from ray import serve

        if not self._running() or name not in serve.status().applications:
            return {}
        config = A.user_config_of(self._configs().get(name))
        out = {r["release_id"]: int(r["weight"]) for r in config.get("routes", [])}
        if config.get("shadow"):
            out.setdefault(config["shadow"]["release_id"], 0)
        return out

    def shadow_report(self, name: str) -> dict[str, Any] | None:
        import ray

        try:
            actor = ray.get_actor(SHADOW_LOG, namespace=NAMESPACE)
            return cast("dict[str, Any] | None",
                        ray.get(actor.report.remote(name), timeout=30))
        except Exception as e:  # noqa: BLE001 - no report is "nothing recorded"
            log.warning("no shadow report for %s: %s", name, e)
            return None

    def _ask(self, app: str, method: str) -> Any:
        """Call ``method`` on ``app``'s ingress once (None if it does not answer).

        Handles are bound to the event loop that first used them, and in throughput mode
        route on it: every call goes through one loop thread owned by the runtime."""
        import asyncio

        from ray import serve

        async def ask() -> Any:
            return await getattr(serve.get_app_handle(app), method).remote()

        try:
            return asyncio.run_coroutine_threadsafe(ask(), _handle_loop()).result(timeout=30)
        except Exception as e:  # noqa: BLE001 - not answering is "not serving"
            log.debug("%s did not answer %s: %s", app, method, e)
            return None

    def data_plane_metrics(self) -> dict[str, Any]:
        from ferry_platform.serving._metrics import hub_snapshot, merge

        return hub_snapshot() if self._running() else merge([])

    def endpoints(self, name: str, protocol: Protocol) -> Endpoints:
        rest = f"{self._config.http_url}/{name}" if protocol is not Protocol.grpc else None
        grpc = self._config.grpc_target if protocol is not Protocol.rest else None
        return Endpoints(rest=rest, grpc=grpc, grpc_application=name if grpc else None)


def replica_nodes(app: str) -> dict[str, str]:
    """Live replica actors of ``app`` and the Ray node each runs on (from the GCS)."""
    import ray

    out: dict[str, str] = {}
    for info in ray._private.state.actors(actor_state_name="ALIVE").values():
        name = str(info.get("Name", ""))
        if name.startswith(f"SERVE_REPLICA::{app}.") and "#router#" not in name:
            out[name] = str(info.get("Address", {}).get("NodeID", ""))
    return out


def ferry_replica_actor_names() -> list[str]:
    """Names of live Serve replica actors (to check that nothing is orphaned)."""
    import ray

    return sorted(
        a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
        if str(a.get("name", "")).startswith("SERVE_REPLICA::")
    )
