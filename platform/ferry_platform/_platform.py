"""The composition root: builds every capability from one :class:`Settings`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ferry_platform._settings import Settings
from ferry_platform._version import __version__
from ferry_platform.features import FeastFeatures
from ferry_platform.packaging import BentoPackager
from ferry_platform.registry import MlflowRegistry
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.serving import RayServeRuntime
from ferry_platform.store import SqlStateStore

log = logging.getLogger("ferry.platform")


@dataclass
class Platform:
    settings: Settings
    registry: MlflowRegistry
    packager: BentoPackager
    runtime: RayServeRuntime
    store: SqlStateStore
    releases: ReleaseService
    features: FeastFeatures

    @classmethod
    def from_settings(cls, settings: Settings) -> Platform:
        settings.home.mkdir(parents=True, exist_ok=True)
        if "://" not in settings.mlflow_artifact_root:
            from pathlib import Path

            Path(settings.mlflow_artifact_root).mkdir(parents=True, exist_ok=True)
        registry = MlflowRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root,
                                  client_uri=settings.mlflow_public_uri)
        packager = BentoPackager(bentoml_home=settings.bentoml_home,
                                 release_store_uri=settings.release_store_uri,
                                 ferry_version=__version__)
        runtime = RayServeRuntime(settings)
        store = SqlStateStore(settings.database_url)
        features = FeastFeatures(repo=settings.feature_repo, project=settings.feature_project,
                                 registry_uri=settings.feature_registry_uri,
                                 online_store=settings.feature_online_store,
                                 redis=settings.feature_redis,
                                 offline_store=settings.feature_offline_store)
        releases = ReleaseService(registry, packager, runtime, store,
                                  Defaults(replicas=settings.default_replicas), features)
        return cls(settings, registry, packager, runtime, store, releases, features)

    def start(self) -> None:
        log.info("starting the serving runtime (Ray %s)",
                 self.settings.ray_address or "local")
        self.runtime.start()

    def stop(self) -> None:
        self.runtime.stop()
