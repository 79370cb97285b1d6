"""Fakes that implement the real capability interfaces (registry, packager, runtime), for
use-case tests without MLflow, BentoML or Ray."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ferry_contract import (
    ColumnSpec,
    Endpoints,
    ModelNotFound,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    Protocol,
    ReleaseFailed,
    VersionNotFound,
)
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.serving import AppState, Route

SIG = [ColumnSpec(name="x", type="double")]


class FakeRegistry:
    def __init__(self, versions: dict[str, list[int]],
                 refs: dict[int, list[str]] | None = None,
                 signature: list[ColumnSpec] | None = None) -> None:
        self.versions = versions
        self.refs = refs or {}
        self.signature = signature or SIG

    def client_tracking_uri(self) -> str:
        return "sqlite://"

    def sync(self) -> int:
        return 0

    def ensure_model(self, name: str, description: str = "") -> ModelPublic:
        self.versions.setdefault(name, [])
        return self.get_model(name)

    def get_model(self, name: str) -> ModelPublic:
        if name not in self.versions:
            raise ModelNotFound(f"no model {name!r}")
        versions = self.versions[name]
        return ModelPublic(name=name, experiment_id="0",
                           latest_version=max(versions) if versions else None)

    def list_models(self) -> list[ModelPublic]:
        return [self.get_model(n) for n in sorted(self.versions)]

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        versions = self.versions.setdefault(name, [])
        versions.append(max(versions, default=0) + 1)
        return self.get_version(name, versions[-1])

    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        if version not in self.versions.get(name, []):
            raise VersionNotFound(f"{name} has no version {version}")
        return ModelVersionPublic(name=name, version=version, run_id="r", model_uri="models:/m",
                                  framework="sklearn", model_digest=f"sha256:{name}{version}",
                                  training_data_digest="d", code_version="c",
                                  signature=self.signature, feature_refs=self.refs.get(version, []))

    def list_versions(self, name: str) -> list[ModelVersionPublic]:
        return [self.get_version(name, v) for v in self.versions.get(name, [])]

    def download_version(self, name: str, version: int, dst: Path) -> Path:
        raise NotImplementedError


class FakePackager:
    def __init__(self) -> None:
        self.built: list[str] = []

    def build(self, version: ModelVersionPublic) -> ReleaseManifest:
        rid = f"{version.name}-v{version.version}-x"
        self.built.append(rid)
        return ReleaseManifest(release_id=rid, model=version.name, version=version.version,
                               model_uri=version.model_uri, model_digest=version.model_digest,
                               training_data_digest="d", code_version="c", framework="sklearn",
                               signature=SIG, ferry_version="0", bento_tag=f"b:{rid}")

    def get(self, release_id: str) -> ReleaseManifest | None:
        return None


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
    # releases started for a name but not routed (a change cut off before its switch)
    unrouted: dict[str, set[str]] = field(default_factory=dict)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def preflight(self, manifest: ReleaseManifest, protocol: Protocol,
                  features: FeatureBinding | None = None) -> None:
        self.bindings.append(features)
        if manifest.release_id in self.broken:
            raise ReleaseFailed(f"release {manifest.release_id} cannot be loaded: boom")

    def apply(self, name: str, routes: list[Route], sticky_key: str | None = None) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        for r in routes:
            if r.manifest.release_id in self.unschedulable:
                # Like Ray Serve here: a release that never starts gets no traffic and
                # what served keeps serving.
                raise ReleaseFailed("replicas never started")
        top = max(routes, key=lambda r: r.weight)
        self.applied.append((name, top.manifest.release_id))
        self.serving[name] = top.manifest.release_id
        self.routes[name] = {r.manifest.release_id: r.weight for r in routes}
        self.sticky[name] = sticky_key
        self.unrouted.pop(name, None)  # like Ray Serve here: what is not routed stops

    def delete(self, name: str) -> None:
        self.serving.pop(name, None)
        self.routes.pop(name, None)
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

    def health(self) -> str:
        return "connected"


class FakeEvaluationStore:
    """In memory :class:`EvaluationStore`: one evaluation set, and every version already
    evaluated as passing (the control-plane suites test traffic and access, not metrics;
    the real store is tested with MLflow in test_evaluation)."""

    def __init__(self) -> None:
        self.sets: list[dict[str, object]] = [{
            "model": "any", "version": 1, "digest": "0" * 16, "rows": 10, "label": "y",
            "task": "classification", "slice_column": None, "columns": ["x", "y"],
            "run_id": "fake"}]
        self.gates: dict[str, dict[str, object]] = {}
        self.champions: dict[str, int] = {}
        self.saved: list[dict[str, object]] = []

    def save_eval_set(self, model: str, frame: object, meta: dict[str, object]) -> dict[str, object]:
        out = {**meta, "model": model, "version": len(self.sets) + 1, "run_id": "fake"}
        self.sets.insert(0, out)
        return out

    def eval_sets(self, model: str) -> list[dict[str, object]]:
        return [{**s, "model": model} for s in self.sets]

    def eval_set(self, model: str, version: int | None = None) -> tuple[dict[str, object], object]:
        import pandas as pd

        return self.eval_sets(model)[0], pd.DataFrame({"x": range(10), "y": [0, 1] * 5})

    def save_evaluation(self, model: str, result: dict[str, object]) -> str:
        self.saved.append(result)
        return "fake-run"

    def evaluations(self, model: str, version: int | None = None, against: int | None = None,
                    eval_set: int | None = None, limit: int = 20) -> list[dict[str, object]]:
        return [{"model": model, "version": version or 1, "against": against,
                 "eval_set_version": eval_set or 1, "task": "classification",
                 "primary_metric": "roc_auc", "rows": 10, "folds": 5,
                 "metrics": {"candidate": {"roc_auc": 0.9}, "baseline": {"roc_auc": 0.5}},
                 "gates": [{"name": "beats_baseline", "passed": True, "detail": "fake"}],
                 "passed": True, "gate": {}, "run_id": "fake-run"}]

    def gate(self, model: str) -> dict[str, object]:
        return dict(self.gates.get(model, {}))

    def set_gate(self, model: str, config: dict[str, object]) -> None:
        self.gates[model] = config

    def champion(self, model: str) -> int | None:
        return self.champions.get(model)

    def set_champion(self, model: str, version: int) -> None:
        self.champions[model] = version

    def load_scorer(self, model: str, version: int) -> tuple[object, object, list[object] | None]:
        raise ReleaseFailed(f"{model} v{version}: the fake store loads no models")
