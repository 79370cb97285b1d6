from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

from ferry_contract import Endpoints, Protocol
from ferry_platform.core import FeatureBinding, ReleaseManifest


@dataclass(frozen=True)
class AppState:
    """What the runtime says of one deployment name."""

    status: str  # running, deploying, deploy_failed, unhealthy, deleting, not_found
    message: str = ""
    replicas: dict[str, int] = field(default_factory=dict)
    """Replicas of the releases by state (``running``, ``starting``...)."""
    router_replicas: dict[str, int] = field(default_factory=dict)
    """Replicas of the router (which answers the primary release in-process)."""
    running: dict[str, int] = field(default_factory=dict)
    """Running replicas of each release, by release id."""


@dataclass(frozen=True)
class Route:
    """One release of a deployment and the share of its traffic (percent, 0-100).

    ``replicas`` is the fixed replica count, or with ``max_replicas`` set the minimum of
    an autoscaled release (Serve scales it between the two by its load)."""

    manifest: ReleaseManifest
    weight: int
    replicas: int
    protocol: Protocol
    features: FeatureBinding | None = None
    shadow: bool = False
    arm: str | None = None  # stable, canary, a, b, shadow: what the prediction log records
    max_replicas: int | None = None

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas is not None


@dataclass(frozen=True)
class RouterAccess:
    """Who a deployment's router lets predict: the SHA-256 digests of the tokens allowed
    (with their expiry, epoch seconds; None: never), or anyone (``anonymous``). The router
    checks each request against it in memory: no database and no extra hop per request."""

    tokens: dict[str, float | None] = field(default_factory=dict)
    anonymous: bool = False

    def config(self) -> dict[str, Any]:
        return {"anonymous": self.anonymous, "tokens": dict(self.tokens)}

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> RouterAccess:
        """The access a router was configured with (nobody, if none)."""
        config = config or {}
        return cls(tokens={str(k): (float(v) if v is not None else None)
                           for k, v in (config.get("tokens") or {}).items()},
                   anonymous=bool(config.get("anonymous", False)))


AccessSource = Callable[[], RouterAccess]
"""Computes a router's access; the runtime calls it under its config lock, right before it
writes, so a revocation that committed before is never overwritten by an older list."""


Phase = Callable[[str], AbstractContextManager[None]]
"""``with phase("start release"): ...``: times one phase of a change, for the job's log."""


def untimed(_name: str) -> AbstractContextManager[None]:
    return nullcontext()


class ServingRuntime(TypingProtocol):
    """Runs releases as named, replicated services reachable over REST and gRPC."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def preflight(self, manifest: ReleaseManifest, protocol: Protocol,
                  features: FeatureBinding | None = None) -> None:
        """Load the release in isolation; raise ReleaseFailed with the reason if it cannot."""
        ...

    def apply(self, name: str, routes: list[Route], sticky_key: str | None = None,
              access: AccessSource | None = None, phase: Phase = untimed) -> None:
        """Make ``name`` serve exactly ``routes``: releases not running yet are started and
        waited for until healthy before they get traffic (ReleaseFailed, nothing changed, if
        they never are); then the weights change; releases no longer routed stop last.
        ``access`` is who may predict (None: keep what the router has; a new router lets
        nobody through). A first deploy (no router yet) starts releases and router in one
        change and removes both if either never becomes healthy. Each of those steps runs
        inside ``phase(name)``."""
        ...

    def set_access(self, name: str, access: AccessSource) -> bool:
        """Change who may predict on ``name`` (running routers are reconfigured in place);
        False if ``name`` does not run."""
        ...

    def accesses(self) -> dict[str, RouterAccess]:
        """Who each running router admits now, by deployment name (to find and repair a
        router a change of access never reached)."""
        ...

    def delete(self, name: str) -> None: ...

    def state(self, name: str) -> AppState: ...

    def names(self) -> list[str]: ...

    def releases_of(self, name: str) -> set[str]:
        """Release ids that run for ``name`` now, whether its router routes to them or not
        (one started by a change cut off before its switch is among them)."""
        ...

    def routes_of(self, name: str) -> dict[str, int]:
        """Release id -> weight that ``name`` routes by now (empty if it does not run)."""
        ...

    def shadow_report(self, name: str) -> dict[str, object] | None:
        """Shadow comparisons counted for ``name`` since its shadow started."""
        ...

    def endpoints(self, name: str, protocol: Protocol) -> Endpoints: ...

    def data_plane_metrics(self) -> dict[str, Any]:
        """The serving processes' summed counts (requests, latency, refusals, log rows)."""
        ...

    def health(self) -> str: ...
