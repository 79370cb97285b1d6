"""Fakes that implement the real capability interfaces (registry, packager, runtime,
evaluation store, sandbox), for use-case tests without MLflow servers, BentoML or Ray.
Each is checked against the real implementation by a behavioural suite run on both
(tests/integration/test_evaluation_store.py, test_sandbox.py, test_registry_contract.py,
test_packager_contract.py, test_runtime_contract.py)."""

from __future__ import annotations

import importlib
import io
import json
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ferry_contract import (
    ColumnSpec,
    Endpoints,
    IncompatibleRelease,
    InvalidRequest,
    LoggedModelCreate,
    LoggedModelPublic,
    ModelNotFound,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    NotFound,
    Protocol,
    ReferenceSample,
    ReleaseFailed,
    VersionNotFound,
)
from ferry_platform.core import FeatureBinding, ReleaseManifest, directory_digest
from ferry_platform.sandbox import SandboxOutOfMemory, TargetFailed
from ferry_platform.serving import AccessSource, AppState, Phase, Route, RouterAccess, untimed

SIG = [ColumnSpec(name="x", type="double")]

ModelFactory = Callable[[], Any]


@cache
def _model_cache() -> Path:
    return Path(tempfile.mkdtemp(prefix="ferry-fake-models-"))


@cache
def saved_model(key: str, factory: ModelFactory) -> tuple[Path, str]:
    """A fitted scikit-learn model saved once (per test session) as an MLflow model
    directory, and that directory's digest."""
    import mlflow.sklearn

    path = _model_cache() / key
    mlflow.sklearn.save_model(factory(), str(path), serialization_format="cloudpickle",
                              pip_requirements=["scikit-learn"])
    return path, directory_digest(path)


class FakeRegistry:
    """Versions by number; with ``models`` ((name, version) -> a factory of a fitted
    scikit-learn model) those versions have real MLflow artifacts and digests. Models
    logged through :meth:`log_model` are kept (a copy of their directory, their lineage)
    and registered as the real registry registers them; anything else is refused alike."""

    def __init__(self, versions: dict[str, list[int]],
                 refs: dict[int, list[str]] | None = None,
                 signature: list[ColumnSpec] | None = None,
                 signatures: dict[int, list[ColumnSpec]] | None = None,
                 models: Mapping[tuple[str, int], ModelFactory] | None = None) -> None:
        self.versions = versions
        self.refs = refs or {}
        self.signature = signature or SIG
        self.signatures = signatures or {}  # per version, where it differs
        # logged model id -> (model name, lineage, its directory, its digest)
        self.logged: dict[str, tuple[str, LoggedModelCreate, Path, str]] = {}
        self.registered: dict[tuple[str, int], str] = {}  # (name, version) -> logged id
        self.logged_signatures: dict[str, list[ColumnSpec]] = {}
        self.models = dict(models or {})

    def _artifacts(self, name: str, version: int) -> tuple[Path, str] | None:
        logged = self.registered.get((name, version))
        if logged is not None:
            return self.logged[logged][2], self.logged[logged][3]
        factory = self.models.get((name, version))
        return saved_model(f"{name}-v{version}-{id(factory)}", factory) if factory else None

    def log_model(self, name: str, model_dir: Path, lineage: LoggedModelCreate,
                  actor: str = "") -> LoggedModelPublic:
        """Reads what the real registry checks first (MLmodel, safely); keeps a copy."""
        from ferry_platform.registry._archive import check_mlmodel, read_mlmodel
        from ferry_platform.registry._mlflow import MlflowRegistry

        mlmodel = read_mlmodel(model_dir)
        check_mlmodel(mlmodel, lineage.framework)
        columns = MlflowRegistry._columns_of(mlmodel)  # refused alike without a signature
        self.get_model(name)
        model_id = f"m-{uuid.uuid4().hex}"
        kept = Path(shutil.copytree(model_dir, _model_cache() / "logged" / model_id))
        self.logged[model_id] = (name, lineage, kept, directory_digest(kept))
        self.logged_signatures[model_id] = columns
        return LoggedModelPublic(model_uri=f"models:/{model_id}", run_id=f"run-{model_id}")

    def sync(self) -> int:
        return 0

    def ensure_model(self, name: str, description: str = "") -> ModelPublic:
        self.versions.setdefault(name, [])
        if description and not getattr(self, "descriptions", {}).get(name):
            self.descriptions = {**getattr(self, "descriptions", {}), name: description}
        return self.get_model(name)

    def get_model(self, name: str) -> ModelPublic:
        if name not in self.versions:
            raise ModelNotFound(f"model {name!r} is not registered")
        versions = self.versions[name]
        return ModelPublic(name=name, experiment_id="0",
                           description=getattr(self, "descriptions", {}).get(name, ""),
                           latest_version=max(versions) if versions else None)

    def list_models(self) -> list[ModelPublic]:
        return [self.get_model(n) for n in sorted(self.versions)]

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        self.get_model(name)
        model_id = create.model_uri.removeprefix("models:/")
        logged = self.logged.get(model_id)
        if logged is None or logged[0] != name or (
                create.run_id is not None and create.run_id != f"run-{model_id}"):
            # the real registry's rule: one answer, whether the model exists or not
            raise InvalidRequest(f"model_uri {create.model_uri!r} is not a model logged for "
                                 f"{name!r} through Ferry; upload it with "
                                 "client.register()")
        versions = self.versions.setdefault(name, [])
        versions.append(max(versions, default=0) + 1)
        self.registered[(name, versions[-1])] = model_id
        return self.get_version(name, versions[-1])

    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        self.get_model(name)
        if version not in self.versions.get(name, []):
            raise VersionNotFound(f"{name} has no version {version}")
        saved = self._artifacts(name, version)
        logged = self.registered.get((name, version))
        lineage = self.logged[logged][1] if logged else None
        return ModelVersionPublic(
            name=name, version=version, run_id=f"run-{logged}" if logged else "r",
            model_uri=f"models:/{logged}" if logged else "models:/m",
            framework=lineage.framework if lineage else "sklearn",
            model_digest=saved[1] if saved else f"sha256:{name}{version}",
            training_data_digest=lineage.dataset.digest if lineage else "d",
            code_version=lineage.code_version if lineage else "c",
            signature=self.logged_signatures[logged] if logged else
            self.signatures.get(version, self.signature),
            feature_refs=list(lineage.feature_refs) if lineage else self.refs.get(version, []))

    def list_versions(self, name: str) -> list[ModelVersionPublic]:
        self.get_model(name)
        return [self.get_version(name, v) for v in self.versions.get(name, [])]

    def training_reference(self, name: str, version: int) -> ReferenceSample | None:
        """The sample the version's lineage carried (as the real registry keeps it)."""
        self.get_version(name, version)
        logged = self.registered.get((name, version))
        return self.logged[logged][1].reference if logged else None

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        self.get_version(name, version)
        saved = self._artifacts(name, version)
        if saved is None:
            raise NotImplementedError(f"the fake registry has no artifacts for {name} v{version}")
        return Path(shutil.copytree(saved[0], dst / "model"))

    def version_tags(self, name: str, version: int) -> dict[str, str]:
        self.get_version(name, version)
        return dict(getattr(self, "tags", {}).get((name, version), {}))

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str | None]) -> None:
        self.get_version(name, version)
        self.tags: dict[tuple[str, int], dict[str, str]] = getattr(self, "tags", {})
        kept = self.tags.setdefault((name, version), {})
        for key, value in tags.items():
            if value is None:
                kept.pop(key, None)
            else:
                kept[key] = value


class FakePackager:
    """Releases named ``<model>-v<version>-x``: the same one when built again, carrying the
    version's lineage; no Bento."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self._releases: dict[str, ReleaseManifest] = {}

    def build(self, version: ModelVersionPublic) -> ReleaseManifest:
        if not version.model_digest:
            raise IncompatibleRelease(f"model {version.name!r} v{version.version} has no "
                                      "recorded model digest")
        rid = f"{version.name}-v{version.version}-x"  # one digest per version here
        self.built.append(rid)
        return self._releases.setdefault(rid, ReleaseManifest(
            release_id=rid, model=version.name, version=version.version,
            model_uri=version.model_uri, model_digest=version.model_digest,
            training_data_digest=version.training_data_digest,
            code_version=version.code_version, framework=version.framework,
            signature=version.signature, ferry_version="0", bento_tag=f"b:{rid}"))

    def get(self, release_id: str) -> ReleaseManifest | None:
        return self._releases.get(release_id)


@dataclass
class FakeRuntime:
    broken: set[str] = field(default_factory=set)       # fail preflight
    unschedulable: set[str] = field(default_factory=set)  # fail apply
    serving: dict[str, str] = field(default_factory=dict)
    applied: list[tuple[str, str]] = field(default_factory=list)
    gate: threading.Event | None = None
    bindings: list[FeatureBinding | None] = field(default_factory=list)
    routes: dict[str, dict[str, int]] = field(default_factory=dict)
    sticky: dict[str, str | None] = field(default_factory=dict)
    access: dict[str, RouterAccess] = field(default_factory=dict)  # what each router admits
    # releases started for a name but not routed (a change cut off before its switch)
    unrouted: dict[str, set[str]] = field(default_factory=dict)
    # replicas, max_replicas (None: fixed) each release was last applied with
    scaling: dict[str, tuple[int, int | None]] = field(default_factory=dict)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def preflight(self, manifest: ReleaseManifest, protocol: Protocol,
                  features: FeatureBinding | None = None) -> None:
        self.bindings.append(features)
        if manifest.release_id in self.broken:
            raise ReleaseFailed(f"release {manifest.release_id} cannot be loaded: boom")

    def apply(self, name: str, routes: list[Route], sticky_key: str | None = None,
              access: AccessSource | None = None, phase: Phase = untimed) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        def start() -> None:
            for r in routes:
                if r.manifest.release_id in self.unschedulable:
                    # Like Ray Serve here: a release that never starts gets no traffic and
                    # what served keeps serving.
                    raise ReleaseFailed("replicas never started")

        # the phases the real runtime names, in its order
        if name not in self.routes:  # a first deploy: releases and router together
            with phase("start release and router"):
                start()
                self._route(name, routes, sticky_key, access)
            return
        if any(r.manifest.release_id not in self.releases_of(name) for r in routes):
            with phase("start release"):
                start()
        with phase("switch traffic"):
            self._route(name, routes, sticky_key, access)

    def _route(self, name: str, routes: list[Route], sticky_key: str | None,
               access: AccessSource | None) -> None:
        top = max(routes, key=lambda r: r.weight)
        self.applied.append((name, top.manifest.release_id))
        self.serving[name] = top.manifest.release_id
        self.routes[name] = {r.manifest.release_id: r.weight for r in routes}
        self.scaling.update({r.manifest.release_id: (r.replicas, r.max_replicas)
                             for r in routes})
        self.sticky[name] = sticky_key
        self.unrouted.pop(name, None)  # like Ray Serve here: what is not routed stops
        if access is not None:
            self.access[name] = access()
        else:
            self.access.setdefault(name, RouterAccess())

    def set_access(self, name: str, access: AccessSource) -> bool:
        if name not in self.serving:
            return False
        self.access[name] = access()
        return True

    def accesses(self) -> dict[str, RouterAccess]:
        return {name: self.access[name] for name in self.serving if name in self.access}

    def delete(self, name: str) -> None:
        self.serving.pop(name, None)
        self.routes.pop(name, None)
        self.access.pop(name, None)
        self.unrouted.pop(name, None)

    def state(self, name: str) -> AppState:
        return AppState("running" if name in self.serving else "not_found")

    def names(self) -> list[str]:
        return sorted(set(self.serving) | {n for n, r in self.unrouted.items() if r})

    def releases_of(self, name: str) -> set[str]:
        return set(self.routes.get(name, {})) | self.unrouted.get(name, set())

    def routes_of(self, name: str) -> dict[str, int]:
        return dict(self.routes.get(name, {}))

    def shadow_report(self, name: str) -> dict[str, object] | None:
        return None

    def endpoints(self, name: str, protocol: Protocol) -> Endpoints:
        return Endpoints(rest=f"http://x/{name}")

    def data_plane_metrics(self) -> dict[str, Any]:
        return {"requests": {}, "latency": {}, "errors": {}, "rejected": {}, "log_written": 0,
                "log_dropped": 0}

    def health(self) -> str:
        return "connected"


class FakeEvaluationStore:
    """In-memory :class:`EvaluationStore`: what is saved is what is returned, newest first,
    as JSON would carry it (the same suite runs on it and on MlflowEvaluationStore).
    ``models`` raises ModelNotFound for a model the registry does not know."""

    def __init__(self, models: Callable[[str], object] | None = None) -> None:
        self._known = models
        self._lock = threading.Lock()
        self._sets: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        self._evaluations: dict[str, list[dict[str, Any]]] = {}
        self._gates: dict[str, str] = {}
        self._champions: dict[str, int] = {}

    def _registered(self, model: str) -> None:
        if self._known is not None:
            self._known(model)

    def save_eval_set(self, model: str, frame: Any, meta: dict[str, Any]) -> dict[str, Any]:
        self._registered(model)
        try:
            frame.to_parquet(io.BytesIO(), index=False)
        except (ValueError, TypeError, ArithmeticError) as e:
            raise InvalidRequest(f"the rows cannot be stored as a table: {type(e).__name__}: "
                                 f"{e}") from e
        with self._lock:
            sets = self._sets.setdefault(model, [])
            version = max((int(m["version"]) for m, _ in sets), default=0) + 1
            stored = _json({**meta, "model": model, "version": version,
                            "run_id": uuid.uuid4().hex})
            sets.append((stored, frame.copy()))
        return _json(stored)

    def eval_sets(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [_json(m) for m, _ in reversed(self._sets.get(model, []))]

    def eval_set(self, model: str, version: int | None = None) -> tuple[dict[str, Any], Any]:
        with self._lock:
            found = [(m, f) for m, f in reversed(self._sets.get(model, []))
                     if version is None or int(m["version"]) == version]
        if not found:
            raise NotFound(f"model {model!r} has no evaluation set"
                           f"{f' v{version}' if version else ''}", details={"model": model})
        meta, frame = found[0]
        return _json(meta), frame.copy()

    def save_evaluation(self, model: str, result: dict[str, Any]) -> str:
        self._registered(model)
        run_id = uuid.uuid4().hex
        with self._lock:
            self._evaluations.setdefault(model, []).append(_json({**result, "run_id": run_id}))
        return run_id

    def evaluations(self, model: str, version: int | None = None, against: int | None = None,
                    eval_set: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            stored = list(reversed(self._evaluations.get(model, [])))
        found = [e for e in stored
                 if (version is None or str(e["version"]) == str(version))
                 and (against is None or str(e.get("against") or "") == str(against))
                 and (eval_set is None or str(e["eval_set_version"]) == str(eval_set))]
        return [_json(e) for e in found[:limit]]

    def gate(self, model: str) -> dict[str, Any]:
        self._registered(model)
        with self._lock:
            raw = self._gates.get(model)
        return json.loads(raw) if raw else {}

    def set_gate(self, model: str, config: dict[str, Any]) -> None:
        self._registered(model)
        with self._lock:
            self._gates[model] = json.dumps(config)

    def champion(self, model: str) -> int | None:
        self._registered(model)
        with self._lock:
            return self._champions.get(model)

    def set_champion(self, model: str, version: int) -> None:
        self._registered(model)
        with self._lock:
            self._champions[model] = int(version)


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class InlineSandbox:
    """:class:`Sandbox` that runs the target in this process, for control-plane tests
    whose models are the tests' own. It keeps the interface's contract on answers (JSON
    only) and on the target's errors (TargetFailed ``Type: text``, MemoryError as
    SandboxOutOfMemory) but isolates nothing and enforces no limit: the real sandboxes
    do, and tests/unit/test_sandbox.py runs one suite on all three."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, float, int]] = []

    def run(self, target: str, payload: Any, *, timeout_s: float, memory_mb: int) -> Any:
        self.runs.append((target, timeout_s, memory_mb))
        module, _, name = target.partition(":")
        try:
            result = getattr(importlib.import_module(module), name)(payload)
        except MemoryError as e:
            raise SandboxOutOfMemory(f"MemoryError: {e}") from e
        except Exception as e:
            text = str(e).strip().splitlines()
            raise TargetFailed(f"{type(e).__name__}: {text[-1]}" if text
                               else type(e).__name__) from e
        try:
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as e:
            raise TargetFailed(f"the result is not plain JSON: {type(e).__name__}: {e}") from e
