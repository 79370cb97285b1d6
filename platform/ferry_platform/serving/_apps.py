"""Application builders named by import path in Ferry's declarative Serve config.

Ray Serve builds each application on the cluster by calling these with the config's
``args``. The router's args never change (its routes are its ``user_config``), so changing
weights reconfigures the running router instead of rebuilding it.
"""

from __future__ import annotations

from typing import Any

from ferry_platform.serving._names import RELEASE_DEPLOYMENT, ROUTER_DEPLOYMENT

__all__ = ["RELEASE_DEPLOYMENT", "ROUTER_DEPLOYMENT", "release_app", "router_app"]


def release_app(args: dict[str, Any]) -> Any:
    """One release: ``args`` = {"spec": replica spec, "options": deployment options}."""
    from ray import serve

    from ferry_platform.serving._replica import FerryReplica

    base: Any = serve.deployment(FerryReplica)
    return base.options(name=RELEASE_DEPLOYMENT, **args["options"]).bind(args["spec"])


def router_app(args: dict[str, Any]) -> Any:
    """The ingress of deployment ``args["name"]``; ``args["options"]`` its options,
    ``args["max_body_bytes"]`` the largest body or gRPC message it forwards."""
    from ray import serve

    from ferry_platform.serving._router import FerryRouter

    base: Any = serve.deployment(FerryRouter)
    return base.options(name=ROUTER_DEPLOYMENT, **args["options"]).bind(args["name"],
                                                                   args.get("max_body_bytes"))
