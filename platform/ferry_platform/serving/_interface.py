from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol as TypingProtocol

from ferry_contract import Endpoints, Protocol
from ferry_platform.core import FeatureBinding, ReleaseManifest


@dataclass(frozen=True)
class AppState:
    """What the runtime says of one deployment name."""

    status: str  # running, deploying, deploy_failed, unhealthy, deleting, not_found
    message: str = ""
    replicas: dict[str, int] = field(default_factory=dict)


class ServingRuntime(TypingProtocol):
    """Runs releases as named, replicated services reachable over REST and gRPC."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def preflight(self, manifest: ReleaseManifest, protocol: Protocol,
                  features: FeatureBinding | None = None) -> None:
        """Load the release in isolation; raise ReleaseFailed with the reason if it cannot."""
        ...

    def apply(self, name: str, manifest: ReleaseManifest, replicas: int, protocol: Protocol,
              features: FeatureBinding | None = None) -> None:
        """Make ``name`` serve ``manifest`` with ``replicas`` replicas; wait until it does."""
        ...

    def delete(self, name: str) -> None: ...

    def state(self, name: str) -> AppState: ...

    def names(self) -> list[str]: ...

    def release_of(self, name: str) -> str | None:
        """The release ``name``'s replicas serve now (None if it does not run)."""
        ...

    def endpoints(self, name: str, protocol: Protocol) -> Endpoints: ...

    def health(self) -> str: ...
