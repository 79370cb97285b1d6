"""One behavioural suite for :class:`ServingRuntime`, run on the fake the use-case tests use
and on RayServeRuntime (the session's Ray Serve, real releases): a name serves exactly the
routes applied, weights included; a release no longer routed stops; a release that cannot
start gets no traffic and what served keeps serving; who may predict is what was pushed
last; a deleted name is gone. A fake that forgot a route, kept a stopped release or
admitted anyone fails here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from _fakes import FakeRuntime
from _models import sklearn_pipeline, training_frame

from ferry_contract import Protocol, ReleaseFailed
from ferry_platform.core import ReleaseManifest
from ferry_platform.serving import Route, RouterAccess, ServingRuntime

NAME = "rt-contract"


@dataclass
class Subject:
    runtime: ServingRuntime
    releases: list[ReleaseManifest]   # two releases that start
    broken: ReleaseManifest           # one that never does
    make_unstartable: Callable[[ReleaseManifest], None]


@pytest.fixture(scope="module")
def manifests(registry_client, platform_core) -> list[ReleaseManifest]:  # type: ignore[no-untyped-def]
    out = []
    for c in (0.5, 2.0):
        mv = registry_client.register(sklearn_pipeline(c=c), name=NAME,
                                      training_data=training_frame(), target="churned")
        out.append(platform_core.packager.build(mv))
    return out


def broken_of(good: ReleaseManifest) -> ReleaseManifest:
    """A release whose Bento does not exist anywhere: its replicas fail to start."""
    return good.model_copy(update={"release_id": f"{NAME}-v99-0000000000",
                                   "bento_tag": f"ferry-{NAME}:v99-0000000000", "bento_uri": ""})


@pytest.fixture(params=["fake", pytest.param("ray", marks=pytest.mark.ray)])
def subject(request: pytest.FixtureRequest,
            manifests: list[ReleaseManifest]) -> Iterator[Subject]:
    broken = broken_of(manifests[0])
    if request.param == "fake":
        fake = FakeRuntime()
        yield Subject(fake, manifests, broken,
                      lambda m: fake.unschedulable.add(m.release_id))
        return
    runtime = request.getfixturevalue("running_platform").runtime
    try:
        yield Subject(runtime, manifests, broken, lambda _m: None)
    finally:
        runtime.delete(NAME)


def route(m: ReleaseManifest, weight: int) -> Route:
    return Route(m, weight, replicas=1, protocol=Protocol.auto)


def test_a_name_serves_what_was_applied_and_admits_who_was_pushed_last(subject: Subject) -> None:
    rt, (r1, r2) = subject.runtime, subject.releases
    assert rt.set_access(NAME, lambda: RouterAccess(anonymous=True)) is False  # not running
    rt.apply(NAME, [route(r1, 100)])
    assert NAME in rt.names() and rt.state(NAME).status == "running"
    assert rt.routes_of(NAME) == {r1.release_id: 100}
    assert rt.releases_of(NAME) == {r1.release_id}
    assert rt.accesses()[NAME] == RouterAccess()  # a new router lets nobody through

    members = RouterAccess(tokens={"a" * 64: None})
    rt.apply(NAME, [route(r1, 90), route(r2, 10)], access=lambda: members)  # a canary
    assert rt.routes_of(NAME) == {r1.release_id: 90, r2.release_id: 10}
    assert rt.releases_of(NAME) == {r1.release_id, r2.release_id}
    assert rt.accesses()[NAME] == members

    rt.apply(NAME, [route(r2, 100)])  # promoted, nothing kept: r1 stops; access kept
    assert rt.routes_of(NAME) == {r2.release_id: 100}
    assert rt.releases_of(NAME) == {r2.release_id}
    assert rt.accesses()[NAME] == members

    one, other = RouterAccess(tokens={"b" * 64: 2e9}), RouterAccess(anonymous=True)
    assert rt.set_access(NAME, lambda: one) is True
    assert rt.accesses()[NAME] == one
    assert rt.set_access(NAME, lambda: other) is True
    assert rt.accesses()[NAME] == other
    assert rt.routes_of(NAME) == {r2.release_id: 100}  # routes untouched

    # a release that never starts: refused, nothing routed to it, what served serves
    subject.make_unstartable(subject.broken)
    with pytest.raises(ReleaseFailed):
        rt.apply(NAME, [route(r2, 90), route(subject.broken, 10)])
    assert rt.routes_of(NAME) == {r2.release_id: 100}
    assert rt.releases_of(NAME) == {r2.release_id}

    rt.delete(NAME)
    assert NAME not in rt.names()
    assert rt.routes_of(NAME) == {} and rt.releases_of(NAME) == set()
    assert NAME not in rt.accesses()


def test_preflight_passes_a_release_that_loads_and_refuses_one_that_does_not(
        subject: Subject) -> None:
    """Each preflight loads one release in a process of its own (on Ray, the warm loader is
    used once, then replaced): a failed load leaves nothing that fails the next one."""
    rt = subject.runtime
    if isinstance(rt, FakeRuntime):
        rt.broken.add(subject.broken.release_id)
    rt.preflight(subject.releases[0], Protocol.auto)
    with pytest.raises(ReleaseFailed, match="cannot be loaded"):
        rt.preflight(subject.broken, Protocol.auto)
    rt.preflight(subject.releases[1], Protocol.auto)
    rt.preflight(subject.releases[0], Protocol.auto)
    assert rt.names().count(NAME) == 0  # a preflight serves nothing
