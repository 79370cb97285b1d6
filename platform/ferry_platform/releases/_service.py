"""Deploy, inspect and undeploy: the platform's main use case, written once.

A deploy is: resolve the exact model version -> build (or reuse) its immutable release ->
load it in isolation (preflight) -> roll it onto the runtime -> record it. Everything that
can be refused is refused before anything running is touched; if rolling out fails anyway,
the previous release of that name is put back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ferry_contract import (
    Conflict,
    DeploymentCreate,
    DeploymentNotFound,
    DeploymentPublic,
    FerryError,
    Protocol,
    ReleaseFailed,
)
from ferry_platform.core import ReleaseManifest
from ferry_platform.packaging import Packager
from ferry_platform.registry import ModelRegistry
from ferry_platform.serving import ServingRuntime
from ferry_platform.store import DeploymentRecord, StateStore

log = logging.getLogger("ferry.releases")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Defaults:
    """What the platform chooses when the data scientist does not."""

    replicas: int = 2
    protocol: Protocol = Protocol.auto


class ReleaseService:
    def __init__(
        self,
        registry: ModelRegistry,
        packager: Packager,
        runtime: ServingRuntime,
        store: StateStore,
        defaults: Defaults | None = None,
    ) -> None:
        self._registry = registry
        self._packager = packager
        self._runtime = runtime
        self._store = store
        self._defaults = defaults or Defaults()
        self._locks_guard = threading.Lock()
        self._busy: set[str] = set()

    @contextmanager
    def _exclusive(self, name: str, action: str) -> Iterator[None]:
        with self._locks_guard:
            if name in self._busy:
                raise Conflict(
                    f"another change to deployment {name!r} is under way; "
                    f"wait for it to finish, then retry the {action}.",
                    details={"deployment": name},
                )
            self._busy.add(name)
        try:
            yield
        finally:
            with self._locks_guard:
                self._busy.discard(name)

    # -- use cases ----------------------------------------------------------------------
    def deploy(self, req: DeploymentCreate, progress: Progress | None = None) -> DeploymentPublic:
        say = progress or (lambda msg: log.info(msg))
        name = req.name or req.model
        replicas = req.replicas or self._defaults.replicas
        protocol = self._defaults.protocol if req.protocol is Protocol.auto else req.protocol
        with self._exclusive(name, "deploy"):
            say(f"resolving {req.model} v{req.version} in the registry")
            version = self._registry.get_version(req.model, req.version)
            say(f"building release of {req.model} v{req.version}")
            manifest = self._packager.build(version)
            self._store.save_release(manifest)
            say(f"loading release {manifest.release_id} in isolation")
            self._runtime.preflight(manifest, protocol)
            previous = self._store.get_deployment(name)
            say(f"rolling {manifest.release_id} onto {replicas} replica(s)")
            try:
                self._runtime.apply(name, manifest, replicas, protocol)
            except FerryError as e:
                self._restore(name, previous, e)
                raise
            prev_id = previous.release_id if previous else None
            if prev_id == manifest.release_id and previous is not None:
                prev_id = previous.previous_release_id
            record = self._store.put_deployment(DeploymentRecord(
                name=name, release_id=manifest.release_id, protocol=protocol,
                replicas=replicas, previous_release_id=prev_id))
            say(f"{name} is serving {manifest.release_id}")
            return self._public(record, manifest)

    def _restore(self, name: str, previous: DeploymentRecord | None, cause: FerryError) -> None:
        if previous is None:
            self._runtime.delete(name)
            return
        manifest = self._store.get_release(previous.release_id)
        if manifest is None:
            return
        log.warning("rolling %s back to %s after: %s", name, previous.release_id, cause)
        try:
            self._runtime.apply(name, manifest, previous.replicas, previous.protocol)
        except FerryError as e:
            raise ReleaseFailed(
                f"{cause.message} Restoring the previous release {previous.release_id} "
                f"also failed: {e.message}") from e

    def undeploy(self, name: str) -> None:
        with self._exclusive(name, "undeploy"):
            record = self._store.get_deployment(name)
            if record is None and name not in self._runtime.names():
                raise DeploymentNotFound(self._unknown(name))
            self._runtime.delete(name)
            self._store.delete_deployment(name)

    def get(self, name: str) -> DeploymentPublic:
        record = self._store.get_deployment(name)
        if record is None:
            raise DeploymentNotFound(self._unknown(name))
        manifest = self._store.get_release(record.release_id)
        if manifest is None:  # pragma: no cover - releases are never deleted
            raise DeploymentNotFound(f"release {record.release_id} of {name!r} is missing")
        return self._public(record, manifest)

    def list(self) -> list[DeploymentPublic]:
        out = []
        for record in self._store.list_deployments():
            manifest = self._store.get_release(record.release_id)
            if manifest is not None:
                out.append(self._public(record, manifest))
        return out

    def release(self, release_id: str) -> ReleaseManifest | None:
        return self._store.get_release(release_id)

    # -- helpers ------------------------------------------------------------------------
    def _unknown(self, name: str) -> str:
        known = [r.name for r in self._store.list_deployments()]
        return (f"no deployment named {name!r}; deployments: {known or 'none'}. "
                "Deploy one with client.deploy(model, version=...).")

    def _public(self, record: DeploymentRecord, manifest: ReleaseManifest) -> DeploymentPublic:
        state = self._runtime.state(record.name)
        return DeploymentPublic(
            name=record.name,
            release=manifest.to_public(),
            protocol=record.protocol,
            replicas=record.replicas,
            status=state.status,
            endpoints=self._runtime.endpoints(record.name, record.protocol),
            previous_release_id=record.previous_release_id,
            updated_at=record.updated_at,
        )
