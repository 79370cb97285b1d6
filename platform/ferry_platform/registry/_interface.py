from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ferry_contract import ModelPublic, ModelVersionCreate, ModelVersionPublic


class ModelRegistry(Protocol):
    """What the platform needs of a model registry."""

    def client_tracking_uri(self) -> str:
        """The tracking URI clients log runs and models to."""
        ...

    def ensure_model(self, name: str, description: str = "") -> ModelPublic: ...

    def get_model(self, name: str) -> ModelPublic: ...

    def list_models(self) -> list[ModelPublic]: ...

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic: ...

    def get_version(self, name: str, version: int) -> ModelVersionPublic: ...

    def list_versions(self, name: str) -> list[ModelVersionPublic]: ...

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        """Download a version's model directory into ``dst`` and return its path."""
        ...
