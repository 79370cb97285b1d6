"""Ferry's declarative Ray Serve config, built as plain data: pure functions of the
serving config and the routes, no Ray, no I/O (unit-tested without a cluster).

Each deployment name is one router application ``<name>`` (route ``/<name>``, gRPC
application ``<name>``) in front of one application per live release,
``<name>.<release id>``. Build arguments (``args``) hold what needs a rebuild to change
(the release's spec, the deployment options); replica counts or autoscaling bounds and
the router's routes are per-deployment config (``num_replicas``, ``autoscaling_config``,
``user_config``), which Serve changes on running applications without rebuilding them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ferry_contract import Protocol
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.serving._config import ServingConfig
from ferry_platform.serving._environment import serve_env
from ferry_platform.serving._interface import Route
from ferry_platform.serving._names import (
    RELEASE_APP,
    RELEASE_DEPLOYMENT,
    ROUTER_APP,
    ROUTER_DEPLOYMENT,
    release_app_name,
)

Configs = dict[str, dict[str, Any]]
"""Serve's declarative config of every application, by application name."""


def replica_spec(config: ServingConfig, manifest: ReleaseManifest, protocol: Protocol,
                 features: FeatureBinding | None) -> dict[str, Any]:
    """What a replica (or a preflight load) builds a release from."""
    return {
        "manifest": manifest.model_dump(mode="json"),
        "protocol": protocol.value,
        "bentoml_home": config.bentoml_home,
        "features": features.model_dump(mode="json") if features else None,
        "max_body_bytes": config.max_body_bytes,
    }


def autoscaling_config(config: ServingConfig, min_replicas: int,
                       max_replicas: int) -> dict[str, Any]:
    """Ray Serve's ``autoscaling_config`` for bounds ``min_replicas..max_replicas`` under
    the platform's policy (:class:`~ferry_platform.serving._config.Autoscaling`)."""
    policy = config.autoscaling
    return {
        "min_replicas": min_replicas,
        "initial_replicas": min_replicas,
        "max_replicas": max_replicas,
        "target_ongoing_requests": policy.target_ongoing_requests,
        "metrics_interval_s": policy.metrics_interval_s,
        "look_back_period_s": 2 * policy.metrics_interval_s,
        "upscale_delay_s": policy.upscale_delay_s,
        "downscale_delay_s": policy.downscale_delay_s,
    }


def release_deployment(config: ServingConfig, route: Route) -> dict[str, Any]:
    """The release deployment's per-deployment config: a fixed count, or autoscaling."""
    if route.autoscaled:
        assert route.max_replicas is not None
        return {"name": RELEASE_DEPLOYMENT,
                "autoscaling_config": autoscaling_config(config, route.replicas,
                                                         route.max_replicas)}
    return {"name": RELEASE_DEPLOYMENT, "num_replicas": route.replicas}


def _options(config: ServingConfig, max_ongoing: int, num_cpus: float) -> dict[str, Any]:
    return {
        "max_ongoing_requests": max_ongoing,
        "ray_actor_options": {"num_cpus": num_cpus,
                              "runtime_env": {"env_vars": serve_env(config)}},
        "health_check_period_s": 10,
        "graceful_shutdown_timeout_s": 5,
    }


def release_config(config: ServingConfig, name: str, route: Route) -> dict[str, Any]:
    """The application of one release of ``name`` (no HTTP route: its router calls it)."""
    return {
        "name": release_app_name(name, route.manifest.release_id),
        "route_prefix": None,
        "import_path": RELEASE_APP,
        "args": {
            "spec": replica_spec(config, route.manifest, route.protocol, route.features),
            "options": _options(config, config.max_ongoing_requests, config.replica_num_cpus),
        },
        # Replica counts are config, not build args: scaling never rebuilds.
        "deployments": [release_deployment(config, route)],
    }


def router_deployment(config: ServingConfig, user_config: dict[str, Any],
                      primary: Route | None = None) -> dict[str, Any]:
    """The router's per-deployment config. Routers answer the release with the most
    traffic in-process (``user_config["local"]``), so they carry its load: when that
    release is autoscaled, so are the routers, from ``FERRY_ROUTER_REPLICAS`` up to the
    release's maximum."""
    dep: dict[str, Any] = {"name": ROUTER_DEPLOYMENT, "user_config": user_config}
    if primary is not None and primary.autoscaled:
        assert primary.max_replicas is not None
        low = config.router_replicas
        dep["autoscaling_config"] = autoscaling_config(config, low,
                                                       max(low, primary.max_replicas))
    else:
        dep["num_replicas"] = config.router_replicas
    return dep


def router_config(config: ServingConfig, name: str, user_config: dict[str, Any],
                  primary: Route | None = None) -> dict[str, Any]:
    """The ingress application of ``name``: route ``/<name>``, gRPC application
    ``<name>``. Its build arguments never change; its routes are its ``user_config``."""
    return {
        "name": name,
        "route_prefix": f"/{name}",
        "import_path": ROUTER_APP,
        "args": {"name": name, "max_body_bytes": config.max_body_bytes,
                 "options": _options(config, config.max_ongoing_requests * 4, 0)},
        "deployments": [router_deployment(config, user_config, primary)],
    }


def router_user_config(routes: list[Route], name: str, generation: int,
                       sticky_key: str | None = None) -> dict[str, Any]:
    """The router's routes (its ``user_config``) for ``routes``; ``local.spec`` and
    ``access`` are filled in under the config lock (:func:`route_edit`)."""
    shadow = next((r for r in routes if r.shadow), None)
    primary = primary_route(routes)
    return {
        "generation": generation,
        "routes": [{"release_id": r.manifest.release_id, "weight": r.weight,
                    "app": release_app_name(name, r.manifest.release_id), "arm": r.arm}
                   for r in routes if not r.shadow],
        "sticky_key": sticky_key,
        "shadow": {"release_id": shadow.manifest.release_id,
                   "app": release_app_name(name, shadow.manifest.release_id)}
        if shadow else None,
        # The release with the most traffic is also loaded inside the router replicas
        # and answered there (no second hop).
        "local": {"release_id": primary.manifest.release_id, "spec": None},
        # Autoscaled: routers answer it off their event loop, so the ongoing requests Serve
        # scales by are the real queue (see FerryRouter._offload).
        "offload": primary.autoscaled,
    }


def primary_route(routes: list[Route]) -> Route:
    """The routed release with the most traffic (the one routers answer in-process)."""
    return max((r for r in routes if not r.shadow), key=lambda r: r.weight)


def user_config_of(cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The router's ``user_config`` in an application's config (empty if none)."""
    for dep in (cfg or {}).get("deployments", []):
        if dep.get("name") == ROUTER_DEPLOYMENT:
            return dict(dep.get("user_config") or {})
    return {}


def without(apps: list[str]) -> Callable[[Configs], None]:
    """An edit that removes ``apps``."""
    def edit(configs: Configs) -> None:
        for app in apps:
            configs.pop(app, None)
    return edit


def route_edit(config: ServingConfig, name: str, routes: list[Route],
               user_config: dict[str, Any],
               access: Callable[[], dict[str, Any]] | None) -> Callable[[Configs], None]:
    """An edit that makes ``name`` route by ``user_config`` over ``routes``: a running
    release keeps its application (only its replica count or bounds change) unless its
    protocol changes (rebuilt, keeping its feature binding); the router gets the primary
    release's spec to answer it in-process, and ``access()`` (computed under the lock;
    None keeps the router's current access)."""
    wanted = {release_app_name(name, r.manifest.release_id): r for r in routes}
    primary = primary_route(routes)

    def edit(c: Configs) -> None:
        for app, r in wanted.items():
            spec = (c.get(app) or {}).get("args", {}).get("spec", {})
            if app in c and spec.get("protocol") == r.protocol.value:
                c[app]["deployments"] = [release_deployment(config, r)]
            elif app in c:
                binding = r.features or (FeatureBinding.model_validate(spec["features"])
                                         if spec.get("features") else None)
                c[app] = release_config(config, name, replace(r, features=binding))
            else:
                c[app] = release_config(config, name, r)
        local_app = release_app_name(name, primary.manifest.release_id)
        user_config["local"]["spec"] = c[local_app]["args"]["spec"]
        user_config["access"] = access() if access is not None else \
            user_config_of(c.get(name)).get("access")
        c[name] = router_config(config, name, user_config, primary)
    return edit
