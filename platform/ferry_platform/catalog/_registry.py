"""The registry as the control plane reads it: MLflow is the record, the catalog answers.

Every write through Ferry (a model, a version) goes to MLflow first and then to the
catalog, a read model in the control plane's database; reads come from the catalog (one
indexed row) instead of several MLflow queries. A version or model the catalog lacks
(registered in MLflow directly) is read from MLflow once and added; :meth:`sync` imports
everything MLflow has that the catalog lacks, at every start of the control plane.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from ferry_contract import ModelPublic, ModelVersionCreate, ModelVersionPublic
from ferry_platform.registry import ModelRegistry

log = logging.getLogger("ferry.catalog")


class Catalog(Protocol):
    def put_model(self, name: str, payload: dict[str, Any]) -> None: ...
    def put_version(self, name: str, version: int, payload: dict[str, Any]) -> None: ...
    def model(self, name: str) -> dict[str, Any] | None: ...
    def models(self) -> list[dict[str, Any]]: ...
    def version(self, name: str, version: int) -> dict[str, Any] | None: ...
    def versions(self, name: str) -> list[dict[str, Any]]: ...
    def version_keys(self) -> set[tuple[str, int]]: ...


class CatalogRegistry:
    """A :class:`ModelRegistry` whose reads are served from the catalog."""

    def __init__(self, registry: ModelRegistry, catalog: Catalog) -> None:
        self._registry = registry
        self._catalog = catalog

    def client_tracking_uri(self) -> str:
        return self._registry.client_tracking_uri()

    # -- models -------------------------------------------------------------------------
    def _keep_model(self, model: ModelPublic) -> ModelPublic:
        self._catalog.put_model(model.name, model.model_dump(mode="json"))
        return model

    def ensure_model(self, name: str, description: str = "") -> ModelPublic:
        return self._keep_model(self._registry.ensure_model(name, description))

    def get_model(self, name: str) -> ModelPublic:
        found = self._catalog.model(name)
        if found is not None:
            return ModelPublic.model_validate(found)
        return self._keep_model(self._registry.get_model(name))

    def list_models(self) -> list[ModelPublic]:
        return [ModelPublic.model_validate(m) for m in self._catalog.models()]

    # -- versions -----------------------------------------------------------------------
    def _keep_version(self, version: ModelVersionPublic) -> ModelVersionPublic:
        self._catalog.put_version(version.name, version.version,
                                  version.model_dump(mode="json"))
        return version

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        version = self._keep_version(self._registry.register_version(name, create))
        self._keep_model(self._registry.get_model(name))  # latest_version moved
        return version

    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        found = self._catalog.version(name, version)
        if found is not None:
            return ModelVersionPublic.model_validate(found)
        return self._keep_version(self._registry.get_version(name, version))

    def list_versions(self, name: str) -> list[ModelVersionPublic]:
        if self._catalog.model(name) is None:  # unknown here: MLflow answers (or 404s)
            self._keep_model(self._registry.get_model(name))
            return [self._keep_version(v) for v in self._registry.list_versions(name)]
        return [ModelVersionPublic.model_validate(v) for v in self._catalog.versions(name)]

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        return self._registry.download_version(name, version, dst)

    # -- start --------------------------------------------------------------------------
    def sync(self) -> int:
        """Import every model and version MLflow has and the catalog lacks; returns how
        many versions were added."""
        have = self._catalog.version_keys()
        known_models = {m["name"] for m in self._catalog.models()}
        added = 0
        for model in self._registry.list_models():
            if model.name not in known_models:
                self._keep_model(model)
            for version in self._registry.list_versions(model.name):
                if (version.name, version.version) not in have:
                    self._keep_version(version)
                    added += 1
        if added:
            log.info("catalog: imported %d model version(s) from MLflow", added)
        return added
