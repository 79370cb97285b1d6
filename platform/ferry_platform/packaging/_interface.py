from __future__ import annotations

from typing import Protocol

from ferry_contract import ModelVersionPublic
from ferry_platform.core import ReleaseManifest


class Packager(Protocol):
    """Builds the deployable bundle for one model version."""

    def build(self, version: ModelVersionPublic) -> ReleaseManifest:
        """Build (or find, if already built) the release of ``version``."""
        ...

    def get(self, release_id: str) -> ReleaseManifest | None: ...
