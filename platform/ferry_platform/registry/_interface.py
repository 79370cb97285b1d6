from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from ferry_contract import (
    LoggedModelCreate,
    LoggedModelPublic,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    ReferenceSample,
)


class ModelRegistry(Protocol):
    """What the platform needs of a model registry. The platform is its only writer."""

    def log_model(self, name: str, model_dir: Path, lineage: LoggedModelCreate,
                  actor: str = "") -> LoggedModelPublic:
        """Log an uploaded model directory (checked, never loaded) and its lineage into
        ``name``'s experiment; what :meth:`register_version` then accepts."""
        ...

    def ensure_model(self, name: str, description: str = "") -> ModelPublic: ...

    def get_model(self, name: str) -> ModelPublic: ...

    def list_models(self) -> list[ModelPublic]: ...

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        """Register a model logged by :meth:`log_model` for ``name`` (anything else is
        refused alike, whether or not it exists)."""
        ...

    def get_version(self, name: str, version: int) -> ModelVersionPublic: ...

    def list_versions(self, name: str) -> list[ModelVersionPublic]: ...

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        """Download a version's model directory into ``dst`` and return its path."""
        ...

    def training_reference(self, name: str, version: int) -> ReferenceSample | None:
        """The training sample (and the model's answers on it) the version was registered
        with, which monitoring compares production traffic with; None if it has none."""
        ...

    def version_tags(self, name: str, version: int) -> dict[str, str]:
        """Every tag on the version (Ferry's ``ferry.*`` ones and anyone else's)."""
        ...

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str | None]) -> None:
        """Set each tag to its value; a ``None`` value deletes the tag."""
        ...
