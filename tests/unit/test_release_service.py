"""The deploy use case, with fakes that implement the real capability interfaces."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ferry_contract import (
    ColumnSpec,
    Conflict,
    DeploymentCreate,
    DeploymentNotFound,
    Endpoints,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    Protocol,
    ReleaseFailed,
    VersionNotFound,
)
from ferry_platform.core import ReleaseManifest
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.serving import AppState
from ferry_platform.store import SqlStateStore

SIG = [ColumnSpec(name="x", type="double")]


class FakeRegistry:
    def __init__(self, versions: dict[str, list[int]]) -> None:
        self.versions = versions

    def client_tracking_uri(self) -> str:
        return "sqlite://"

    def ensure_model(self, name: str, description: str = "") -> ModelPublic:
        raise NotImplementedError

    def get_model(self, name: str) -> ModelPublic:
        raise NotImplementedError

    def list_models(self) -> list[ModelPublic]:
        return []

    def register_version(self, name: str, create: ModelVersionCreate) -> ModelVersionPublic:
        raise NotImplementedError

    def get_version(self, name: str, version: int) -> ModelVersionPublic:
        if version not in self.versions.get(name, []):
            raise VersionNotFound(f"{name} has no version {version}")
        return ModelVersionPublic(name=name, version=version, run_id="r", model_uri="models:/m",
                                  framework="sklearn", model_digest=f"sha256:{name}{version}",
                                  training_data_digest="d", code_version="c", signature=SIG)

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

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def preflight(self, manifest: ReleaseManifest, protocol: Protocol) -> None:
        if manifest.release_id in self.broken:
            raise ReleaseFailed(f"release {manifest.release_id} cannot be loaded: boom")

    def apply(self, name: str, manifest: ReleaseManifest, replicas: int, protocol: Protocol) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        self.applied.append((name, manifest.release_id))
        if manifest.release_id in self.unschedulable:
            self.serving.pop(name, None)
            raise ReleaseFailed("replicas never started")
        self.serving[name] = manifest.release_id

    def delete(self, name: str) -> None:
        self.serving.pop(name, None)

    def state(self, name: str) -> AppState:
        return AppState("running" if name in self.serving else "not_found")

    def names(self) -> list[str]:
        return sorted(self.serving)

    def endpoints(self, name: str, protocol: Protocol) -> Endpoints:
        return Endpoints(rest=f"http://x/{name}")

    def health(self) -> str:
        return "connected"


def service(runtime: FakeRuntime | None = None):  # type: ignore[no-untyped-def]
    rt = runtime or FakeRuntime()
    packager = FakePackager()
    svc = ReleaseService(FakeRegistry({"churn": [1, 2, 3]}), packager, rt,
                         SqlStateStore("sqlite://"), Defaults(replicas=2))
    return svc, rt, packager


def req(version: int, **kw: object) -> DeploymentCreate:
    return DeploymentCreate(model="churn", version=version, **kw)  # type: ignore[arg-type]


def test_deploy_uses_platform_defaults_and_records_the_release() -> None:
    svc, rt, _ = service()
    dep = svc.deploy(req(1))
    assert dep.replicas == 2 and dep.protocol is Protocol.auto
    assert dep.release.release_id == "churn-v1-x" and rt.serving == {"churn": "churn-v1-x"}
    assert svc.get("churn").release.version == 1


def test_unknown_version_is_refused_before_anything_is_built() -> None:
    svc, rt, packager = service()
    with pytest.raises(VersionNotFound):
        svc.deploy(req(9))
    assert packager.built == [] and rt.applied == []


def test_a_release_that_cannot_load_leaves_the_previous_one_serving() -> None:
    svc, rt, _ = service()
    svc.deploy(req(1))
    rt.broken.add("churn-v2-x")
    with pytest.raises(ReleaseFailed, match="boom"):
        svc.deploy(req(2))
    assert rt.serving == {"churn": "churn-v1-x"}
    assert rt.applied == [("churn", "churn-v1-x")]  # never touched
    assert svc.get("churn").release.version == 1


def test_a_rollout_that_fails_puts_the_previous_release_back() -> None:
    svc, rt, _ = service()
    svc.deploy(req(1))
    rt.unschedulable.add("churn-v2-x")
    with pytest.raises(ReleaseFailed):
        svc.deploy(req(2))
    assert rt.serving == {"churn": "churn-v1-x"}
    assert svc.get("churn").release.release_id == "churn-v1-x"


def test_upgrade_remembers_the_previous_release() -> None:
    svc, _, _ = service()
    svc.deploy(req(1))
    dep = svc.deploy(req(2))
    assert dep.previous_release_id == "churn-v1-x"


def test_concurrent_deploys_of_one_name_conflict() -> None:
    gate = threading.Event()
    svc, rt, _ = service(FakeRuntime(gate=gate))
    errors: list[Exception] = []
    t = threading.Thread(target=lambda: svc.deploy(req(1)))
    t.start()
    while not svc._busy:  # the first deploy holds the name
        pass
    try:
        svc.deploy(req(2))
    except Conflict as e:
        errors.append(e)
    gate.set()
    t.join()
    assert len(errors) == 1 and "under way" in str(errors[0])
    assert rt.serving == {"churn": "churn-v1-x"}


def test_undeploy_of_unknown_name_names_what_exists() -> None:
    svc, rt, _ = service()
    svc.deploy(req(1))
    with pytest.raises(DeploymentNotFound, match="churn"):
        svc.undeploy("nope")
    svc.undeploy("churn")
    assert rt.serving == {} and svc.list() == []
