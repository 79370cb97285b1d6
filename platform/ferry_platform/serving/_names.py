"""Names the serving modules share: a leaf (it imports nothing), so the application
builders (``_apps``), the router (``_router``), the config builders (``_appconfig``) and
the runtime (``_ray``) name the same things without importing each other.

Ray Serve finds applications by these import paths and deployments by these names; a
running cluster holds them in its declarative config, so they do not change lightly.
"""

from __future__ import annotations

NAMESPACE = "ferry"
"""The Ray namespace of Ferry's named actors (the shadow log, the metrics hub)."""
SHADOW_LOG = "ferry-shadow-log"
"""The named actor that records shadow comparisons."""

RELEASE_DEPLOYMENT = "release"
"""The deployment of one release's application (:class:`FerryReplica`)."""
ROUTER_DEPLOYMENT = "router"
"""The deployment of a deployment name's router application (:class:`FerryRouter`)."""

RELEASE_APP = "ferry_platform.serving._apps:release_app"
"""Import path of the builder Serve calls to build a release's application."""
ROUTER_APP = "ferry_platform.serving._apps:router_app"
"""Import path of the builder Serve calls to build a router application."""


def release_app_name(name: str, release_id: str) -> str:
    """The Serve application of release ``release_id`` of deployment ``name``."""
    return f"{name}.{release_id}"


def owner(app: str) -> str:
    """The deployment name an application belongs to (its router's, or a release's)."""
    return app.split(".", 1)[0]
