"""The registry as the control plane reads it: MLflow is the record, the catalog answers.

Every write through Ferry (a model, a version) goes to MLflow first and then to the
catalog, a read model in the control plane's database; reads come from the catalog (one
indexed row) instead of several MLflow queries. A version or model the catalog lacks
(registered in MLflow directly) is read from MLflow once and added; :meth:`sync` imports
everything MLflow has that the catalog lacks, at every start of the control plane.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ferry_contract import (
    LoggedModelCreate,
    LoggedModelPublic,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    ReferenceSample,
)
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
    def page_models(self, *, query: str | None = None, team: str | None = None,
                    after: str | None = None, limit: int = 50
                    ) -> list[tuple[dict[str, Any], str | None]]: ...
    def page_versions(self, name: str, *, before: int | None = None,
                      limit: int = 50) -> list[dict[str, Any]]: ...
    def count_versions(self, name: str) -> int: ...
    def newest_versions(self, limit: int = 1000) -> list[dict[str, Any]]: ...


class CatalogRegistry:
    """A :class:`ModelRegistry` whose reads are served from the catalog."""

    def __init__(self, registry: ModelRegistry, catalog: Catalog,
                 max_cached_versions: int = 50_000) -> None:
        self._registry = registry
        self._catalog = catalog
        # A registered version never changes: its catalog row is kept in memory once read.
        self._versions: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
        self._max_versions = max_cached_versions

    def log_model(self, name: str, model_dir: Path, lineage: LoggedModelCreate,
                  actor: str = "") -> LoggedModelPublic:
        return self._registry.log_model(name, model_dir, lineage, actor)

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

    def refresh_model(self, name: str) -> ModelPublic:
        """Read ``name`` from the registry again (after its aliases moved)."""
        return self._keep_model(self._registry.get_model(name))

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

    def training_reference(self, name: str, version: int) -> ReferenceSample | None:
        return self._registry.training_reference(name, version)

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        return self._registry.download_version(name, version, dst)

    def version_tags(self, name: str, version: int) -> dict[str, str]:
        return self._registry.version_tags(name, version)

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str | None]) -> None:
        """Tags are MLflow's alone (the catalog keeps none of them)."""
        self._registry.set_version_tags(name, version, tags)

    # -- fast paths: the catalog's JSON as stored (None: ask the registry) --------------
    def cached_model(self, name: str) -> dict[str, Any] | None:
        return self._catalog.model(name)

    def cached_models(self) -> list[dict[str, Any]]:
        return self._catalog.models()

    def cached_version(self, name: str, version: int) -> dict[str, Any] | None:
        key = (name, version)
        found = self._versions.get(key)
        if found is None:
            found = self._catalog.version(name, version)
            if found is not None:
                self._versions[key] = found
                if len(self._versions) > self._max_versions:
                    self._versions.popitem(last=False)
        return found

    def cached_versions(self, name: str) -> list[dict[str, Any]] | None:
        if self._catalog.model(name) is None:
            return None
        return self._catalog.versions(name)

    # -- pages ----------------------------------------------------------------------------
    def page_models(self, *, query: str | None = None, team: str | None = None,
                    after: str | None = None, limit: int = 50
                    ) -> list[tuple[dict[str, Any], str | None]]:
        """A page of models by name (with their owning team), from the catalog."""
        return self._catalog.page_models(query=query, team=team, after=after, limit=limit)

    def page_versions(self, name: str, *, before: int | None = None,
                      limit: int = 50) -> list[dict[str, Any]]:
        """A page of ``name``'s versions, newest first (404 for an unknown model)."""
        if self._catalog.model(name) is None:
            self.list_versions(name)  # MLflow answers (and fills the catalog), or 404s
        return self._catalog.page_versions(name, before=before, limit=limit)

    def count_versions(self, name: str) -> int:
        return self._catalog.count_versions(name)

    def newest_versions(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self._catalog.newest_versions(limit)

    # -- start --------------------------------------------------------------------------
    def sync(self) -> int:
        """Import every model and version MLflow has and the catalog lacks; returns how
        many versions were added. Models whose newest version the catalog already has
        are skipped (versions are only ever added)."""
        have = self._catalog.version_keys()
        newest: dict[str, int] = {}
        for name, number in have:
            newest[name] = max(newest.get(name, 0), number)
        known_models = {m["name"] for m in self._catalog.models()}
        added = 0
        for model in self._registry.list_models():
            if model.name not in known_models:
                self._keep_model(model)
            if model.latest_version is not None and newest.get(model.name) == model.latest_version:
                continue
            for version in self._registry.list_versions(model.name):
                if (version.name, version.version) not in have:
                    self._keep_version(version)
                    added += 1
        if added:
            log.info("catalog: imported %d model version(s) from MLflow", added)
        return added
