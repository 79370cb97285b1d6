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
from typing import Any
from typing import Protocol as TypingProtocol

from ferry_contract import (
    ColumnSpec,
    Conflict,
    DeploymentCreate,
    DeploymentNotFound,
    DeploymentPublic,
    FeatureNotFound,
    FerryError,
    IncompatibleRelease,
    ModelVersionPublic,
    Protocol,
    ReleaseFailed,
)
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.packaging import Packager
from ferry_platform.registry import ModelRegistry
from ferry_platform.serving import ServingRuntime
from ferry_platform.store import DeploymentRecord, StateStore

log = logging.getLogger("ferry.releases")

Progress = Callable[[str, int], None]
"""``progress(message, percent)``: a step of a long operation."""


class FeaturePort(TypingProtocol):
    """What deploying a feature-backed model needs of the features capability."""

    fetcher: str

    def feature_types(self, refs: list[str]) -> dict[str, str]: ...

    def join_key_types(self, refs: list[str]) -> dict[str, str]: ...

    def servable(self, refs: list[str]) -> list[str]: ...

    def online_config(self) -> dict[str, Any]: ...


# Which model signature types can take a Feast dtype's values.
_COMPATIBLE = {
    "Int64": {"long", "integer", "double", "float"},
    "Int32": {"long", "integer", "double", "float"},
    "Float64": {"double", "float"},
    "Float32": {"double", "float"},
    "String": {"string"},
    "Bool": {"boolean"},
}


def feature_mismatches(signature: list[ColumnSpec], types: dict[str, str]) -> list[str]:
    """Every way a model's signature disagrees with the pinned features' types."""
    by_name = {c.name: c for c in signature}
    problems = []
    for feat, dtype in types.items():
        col = by_name.get(feat)
        if col is None:
            problems.append(f"pinned feature {feat!r} ({dtype}) is not an input of the model")
        elif col.type not in _COMPATIBLE.get(dtype, {col.type}):
            problems.append(f"feature {feat!r} is {dtype} in the feature store but the model "
                            f"expects {col.type}")
    return problems


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
        features: FeaturePort | None = None,
    ) -> None:
        self._features = features
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
    def deploy(self, req: DeploymentCreate, progress: Progress | None = None,
               team: str | None = None, job_id: str | None = None) -> DeploymentPublic:
        say = progress or (lambda msg, _pct: log.info(msg))
        name = req.name or req.model
        replicas = req.replicas or self._defaults.replicas
        protocol = self._defaults.protocol if req.protocol is Protocol.auto else req.protocol
        with self._exclusive(name, "deploy"):
            say(f"resolving {req.model} v{req.version} in the registry", 5)
            version = self._registry.get_version(req.model, req.version)
            binding = self._feature_binding(version)
            say(f"building release of {req.model} v{req.version}", 15)
            manifest = self._packager.build(version)
            self._store.save_release(manifest)
            say(f"loading release {manifest.release_id} in isolation", 40)
            self._runtime.preflight(manifest, protocol, binding)
            previous = self._store.get_deployment(name)
            say(f"rolling {manifest.release_id} onto {replicas} replica(s)", 65)
            try:
                self._runtime.apply(name, manifest, replicas, protocol, binding)
            except FerryError as e:
                self._restore(name, previous, e)
                raise
            prev_id = previous.release_id if previous else None
            if prev_id == manifest.release_id and previous is not None:
                prev_id = previous.previous_release_id
            record = self._store.put_deployment(DeploymentRecord(
                name=name, release_id=manifest.release_id, protocol=protocol,
                replicas=replicas, previous_release_id=prev_id,
                team=team or (previous.team if previous else None), job_id=job_id))
            say(f"{name} is serving {manifest.release_id}", 100)
            return self._public(record, manifest)

    def _feature_binding(self, version: ModelVersionPublic) -> FeatureBinding | None:
        """Refuse a model whose pinned features cannot be served as it was trained on them."""
        refs = version.feature_refs
        if not refs:
            return None
        who = f"{version.name} v{version.version}"
        if self._features is None:
            raise IncompatibleRelease(f"{who} was trained on features {refs} but this platform "
                                      "has no feature store configured.")
        try:
            types = self._features.feature_types(refs)
        except FeatureNotFound as e:
            raise IncompatibleRelease(
                f"{who} was trained on {refs}, which the feature registry does not have: "
                f"{e.message.rstrip('.')}. Apply the definitions of that version, or retrain "
                "on current features and register again.",
                details={"feature_refs": refs}) from e
        problems = feature_mismatches(version.signature, types)
        if problems:
            raise IncompatibleRelease(
                f"{who} does not match its pinned features: {'; '.join(problems)}. "
                "Retrain on a training set of these features and register again.",
                details={"problems": problems, "feature_refs": refs})
        stale = self._features.servable(refs)
        if stale:
            raise IncompatibleRelease(
                f"{who}'s features cannot be served: {'; '.join(stale)}",
                details={"problems": stale, "feature_refs": refs})
        return FeatureBinding(fetcher=self._features.fetcher,
                              config=self._features.online_config(), refs=list(refs),
                              entity_keys=self._features.join_key_types(refs))

    def _restore(self, name: str, previous: DeploymentRecord | None, cause: FerryError) -> None:
        if previous is None:
            self._runtime.delete(name)
            return
        manifest = self._store.get_release(previous.release_id)
        if manifest is None:
            return
        log.warning("rolling %s back to %s after: %s", name, previous.release_id, cause)
        try:
            binding = self._feature_binding(
                self._registry.get_version(manifest.model, manifest.version))
            self._runtime.apply(name, manifest, previous.replicas, previous.protocol, binding)
        except FerryError as e:
            raise ReleaseFailed(
                f"{cause.message} Restoring the previous release {previous.release_id} "
                f"also failed: {e.message}") from e

    def reapply(self, name: str, progress: Progress | None = None) -> DeploymentPublic:
        """Make the runtime serve ``name``'s recorded release again (after a restart of the
        runtime, or an interrupted change)."""
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "reconcile"):
            record, manifest = self._recorded(name)
            say(f"re-applying {record.release_id} to {name} ({record.replicas} replica(s))", 10)
            binding = self._feature_binding(
                self._registry.get_version(manifest.model, manifest.version))
            self._runtime.apply(name, manifest, record.replicas, record.protocol, binding)
            say(f"{name} is serving {record.release_id} again", 100)
            return self._public(record, manifest)

    def undeploy(self, name: str) -> None:
        with self._exclusive(name, "undeploy"):
            record = self._store.get_deployment(name)
            if record is None and name not in self._runtime.names():
                raise DeploymentNotFound(self._unknown(name))
            self._runtime.delete(name)
            self._store.delete_deployment(name)

    def get(self, name: str) -> DeploymentPublic:
        return self._public(*self._recorded(name))

    def _recorded(self, name: str) -> tuple[DeploymentRecord, ReleaseManifest]:
        record = self._store.get_deployment(name)
        if record is None:
            raise DeploymentNotFound(self._unknown(name))
        manifest = self._store.get_release(record.release_id)
        if manifest is None:  # pragma: no cover - releases are never deleted
            raise DeploymentNotFound(f"release {record.release_id} of {name!r} is missing")
        return record, manifest

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
            traffic={manifest.release_id: 100},
            team=record.team,
            previous_release_id=record.previous_release_id,
            updated_at=record.updated_at,
        )
