"""The deploy use case, with fakes that implement the real capability interfaces."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import pytest
from _fakes import FakePackager, FakeRegistry, FakeRuntime

from ferry_contract import (
    ColumnSpec,
    Conflict,
    DeploymentCreate,
    DeploymentNotFound,
    Protocol,
    ReleaseFailed,
    RolloutCreate,
    VersionNotFound,
)
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.store import SqlStateStore


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
    assert dep.traffic == {"churn-v1-x": 100}
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
    deadline = time.monotonic() + 10
    while not svc._busy:  # the first deploy holds the name
        assert time.monotonic() < deadline, "the first deploy never started"
        time.sleep(0.005)
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


FEATURE_SIG = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="spend", type="double"),
               ColumnSpec(name="channel", type="string")]  # channel: a request-time input


@dataclass
class FakeFeatures:
    """Implements the releases layer's FeaturePort over a fixed in-memory feature registry."""

    types: dict[str, dict[str, str]]  # "view@vN" -> feature -> Feast dtype
    stale: list[str] = field(default_factory=list)
    fetcher: str = "fake:Fetcher"

    def feature_types(self, refs: list[str]) -> dict[str, str]:
        from ferry_contract import FeatureNotFound

        out = {}
        for ref in refs:
            part, feat = ref.split(":")
            if part not in self.types or feat not in self.types[part]:
                raise FeatureNotFound(f"{part} has no feature {feat!r}")
            out[feat] = self.types[part][feat]
        return out

    def join_key_types(self, refs: list[str]) -> dict[str, str]:
        return {"customer_id": "long"}

    def servable(self, refs: list[str]) -> list[str]:
        return list(self.stale)

    def online_config(self) -> dict[str, object]:
        return {"repo": "/x"}


def feature_service(refs: list[str], types: dict[str, dict[str, str]],
                    stale: list[str] | None = None,
                    signature: list[ColumnSpec] | None = None):  # type: ignore[no-untyped-def]
    rt = FakeRuntime()
    svc = ReleaseService(FakeRegistry({"churn": [1]}, {1: refs}, signature or FEATURE_SIG),
                         FakePackager(), rt, SqlStateStore("sqlite://"), Defaults(),
                         FakeFeatures(types, stale or []))
    return svc, rt


V0 = {"stats@v0": {"tenure": "Int64", "spend": "Float64"}}
REFS = ["stats@v0:tenure", "stats@v0:spend"]


def test_a_feature_backed_model_deploys_with_its_binding() -> None:
    svc, rt = feature_service(REFS, V0)
    svc.deploy(req(1))
    [binding] = rt.bindings
    assert binding is not None and binding.refs == REFS
    assert binding.entity_keys == {"customer_id": "long"} and binding.fetcher == "fake:Fetcher"


@pytest.mark.parametrize("signature,types,fragment", [
    # trained on 2 features, but the pinned set has 3
    (FEATURE_SIG, {"stats@v0": {"tenure": "Int64", "spend": "Float64", "visits": "Int64"}},
     "'visits' (Int64) is not an input of the model"),
    # a renamed feature
    ([ColumnSpec(name="tenure_m", type="long"), ColumnSpec(name="spend", type="double")], V0,
     "'tenure' (Int64) is not an input"),
    # a changed dtype
    ([ColumnSpec(name="tenure", type="long"), ColumnSpec(name="spend", type="long")], V0,
     "'spend' is Float64 in the feature store but the model expects long"),
])
def test_signature_and_pinned_features_must_agree(signature, types, fragment) -> None:  # type: ignore[no-untyped-def]
    from ferry_contract import IncompatibleRelease

    refs = [f"stats@v0:{f}" for f in types["stats@v0"]]
    svc, rt = feature_service(refs, types, signature=signature)
    with pytest.raises(IncompatibleRelease, match=re.escape(fragment)):
        svc.deploy(req(1))
    assert rt.applied == [] and rt.bindings == []


def test_missing_or_stale_pinned_versions_are_refused() -> None:
    from ferry_contract import IncompatibleRelease

    svc, rt = feature_service(["stats@v3:tenure"], V0)
    with pytest.raises(IncompatibleRelease, match="registry does not have"):
        svc.deploy(req(1))
    svc, rt = feature_service(REFS, V0, stale=["stats@v0 is stale: older than its TTL"])
    with pytest.raises(IncompatibleRelease, match="stale"):
        svc.deploy(req(1))
    assert rt.applied == []


# -- the request contract ---------------------------------------------------------------------
X = ColumnSpec(name="x", type="double")


def contract_service(signatures: dict[int, list[ColumnSpec]],
                     refs: dict[int, list[str]] | None = None):  # type: ignore[no-untyped-def]
    rt, packager = FakeRuntime(), FakePackager()
    svc = ReleaseService(FakeRegistry({"churn": sorted(signatures)}, refs, [X], signatures),
                         packager, rt, SqlStateStore("sqlite://"), Defaults(),
                         FakeFeatures(V0))
    return svc, rt, packager


def test_a_version_whose_clients_send_other_columns_is_refused_unless_allowed() -> None:
    from ferry_contract import ContractChange

    svc, rt, packager = contract_service({1: [X], 2: [X, ColumnSpec(name="z", type="long")],
                                          3: [ColumnSpec(name="x", type="string")]})
    svc.deploy(req(1))
    with pytest.raises(ContractChange, match="column 'z' \\(long\\) is new") as e:
        svc.deploy(req(2))
    assert e.value.status == 409 and e.value.details["changes"]
    with pytest.raises(ContractChange, match="changes from double to string"):
        svc.deploy(req(3))
    assert packager.built == ["churn-v1-x"] and rt.serving == {"churn": "churn-v1-x"}
    with pytest.raises(ContractChange, match="rollout cannot serve clients of both shapes"):
        svc.rollout("churn", RolloutCreate(version=2, weight=10))
    assert svc.deploy(req(2, allow_contract_change=True)).release.version == 2


def test_changes_old_clients_survive_are_not_refused() -> None:
    svc, _, _ = contract_service({
        1: [ColumnSpec(name="x", type="long")],
        2: [ColumnSpec(name="x", type="double")],  # an int is still a valid double
        3: [ColumnSpec(name="x", type="double", required=False)],  # nulls now accepted
    })
    for v in (1, 2, 3):
        assert svc.deploy(req(v)).release.version == v


def test_plain_inputs_to_entity_keys_is_a_contract_change() -> None:
    from ferry_contract import ContractChange

    svc, _, _ = contract_service({1: FEATURE_SIG, 2: FEATURE_SIG}, refs={2: REFS})
    svc.deploy(req(1))
    with pytest.raises(ContractChange, match="from the model's inputs to entity keys"):
        svc.deploy(req(2))


def test_anonymous_prediction_survives_upgrades_but_not_a_change_of_owning_team() -> None:
    svc, _, _ = service()
    svc.deploy(req(1), team="alpha")
    svc.set_anonymous("churn", True)
    assert svc.deploy(req(2), team="alpha").anonymous_predict  # same team: kept
    # another team's model takes the name over: nobody of that team allowed anonymous use
    assert not svc.deploy(req(3), team="beta").anonymous_predict
    assert svc.get("churn").anonymous_predict is False
