"""Safe rollout on a real local Ray Serve: canary, weight change, promote, rollback and a
plain upgrade under a client load loop (0 failed requests), the traffic share over many
requests within a binomial tolerance, sticky A/B by entity key, and shadow answers that
never reach clients but are compared."""

from __future__ import annotations

import json
import math
import time

import httpx
import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from _traffic import LoadLoop

from ferry_contract import RELEASE_HEADER

pytestmark = pytest.mark.ray

NAME = "e2e-roll"


def stable_model():  # type: ignore[no-untyped-def]
    return sklearn_pipeline()


def candidate_model():  # type: ignore[no-untyped-def]
    # Other data and heavy regularisation: it disagrees with the stable model on some rows.
    return sklearn_pipeline(seed=12, c=0.001)


@pytest.fixture(scope="module")
def versions(client):  # type: ignore[no-untyped-def]
    frame = training_frame()
    v1 = client.register(stable_model(), name=NAME, training_data=frame, target="churned")
    v2 = client.register(candidate_model(), name=NAME, training_data=training_frame(12),
                         target="churned")
    # Rollouts pass the gate: every candidate is evaluated first (here against the baseline;
    # v1 is not champion yet) on this evaluation set.
    client.create_eval_set(NAME, training_frame(33), label="churned", slice_column="plan",
                           pin=True)
    # These tests are about traffic: a loose gate (no guardrails), so v2 may stand in for
    # v1 either way.
    client.set_gate(NAME, tolerance=0.3, slice_tolerance=0.3, guardrails=[])
    return v1.version, v2.version


@pytest.fixture(scope="module")
def deployment(client, versions):  # type: ignore[no-untyped-def]
    dep = client.deploy(NAME, version=versions[0], replicas=1)
    yield dep
    dep.close()
    client.undeploy(NAME)


def serve_actors(app: str) -> list[str]:
    """Live Serve replica actors of ``app`` (routers and releases), by unique name."""
    from ferry_platform.serving import ferry_replica_actor_names

    return [a for a in ferry_replica_actor_names()
            if a.startswith((f"SERVE_REPLICA::{app}#", f"SERVE_REPLICA::{app}."))]


def one_row(i: int = 0) -> dict:  # type: ignore[type-arg]
    return training_frame(21)[FEATURES].iloc[i].to_dict()


def within_binomial(hits: int, n: int, p: float, z: float = 4.5) -> bool:
    """|observed share - p| within z standard errors (z=4.5: a false alarm ~1 in 150,000)."""
    return abs(hits / n - p) <= z * math.sqrt(p * (1 - p) / n)


def test_transitions_under_load_fail_no_request(client, deployment, versions, admin_token) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = versions
    info = deployment.info
    loop = LoadLoop(info.endpoints.rest, info.endpoints.grpc, NAME, one_row(), admin_token)
    with loop:
        loop.mark("start")
        canary = client.rollout(NAME, version=v2, canary=10)
        loop.mark("canary")
        actors = serve_actors(NAME)
        client.set_weight(NAME, 50)
        loop.mark("weight")
        # A weight change reconfigures the router: no replica (router or release) restarted.
        assert serve_actors(NAME) == actors
        promoted = client.promote(NAME)
        loop.mark("promote")
        back = client.rollback(NAME)
        loop.mark("rollback")
        upgraded = client.deploy(NAME, version=v2, replicas=1)
        loop.mark("upgrade")
        loop.answered(20, after=loop.marks[-1][1] + 0.5)  # answers from the upgraded release
        loop.mark("end")
    assert loop.failures == [], loop.failures[:5]
    assert len(loop.answers) > 200
    rel1, rel2 = deployment.release_id, canary.info.rollout.candidate.release_id  # type: ignore[union-attr]
    assert promoted.release_id == rel2 and back.release_id == rel1
    assert upgraded.release_id == rel2
    marks = dict(loop.marks)
    # Before the rollout only v1 answered; at 50% both did; after rollback only v1 until
    # the upgrade's new release was healthy; every answer named its release.
    assert set(loop.releases_between(0, marks["start"])) == {rel1}
    assert set(loop.releases_between(marks["weight"], marks["promote"])) == {rel1, rel2}
    assert set(loop.releases_between(marks["rollback"] + 0.5, marks["rollback"] + 1.0)) <= {rel1}
    assert set(loop.releases_between(marks["upgrade"] + 0.5, marks["end"])) == {rel2}
    assert None not in loop.releases_between(marks["start"], marks["end"])
    # back to v1 for the next tests, without a rollout under way
    client.rollback(NAME)


def test_canary_share_is_within_binomial_tolerance(client, deployment, versions, auth) -> None:  # type: ignore[no-untyped-def]
    _, v2 = versions
    dep = client.rollout(NAME, version=v2, canary=20)
    candidate = dep.info.rollout.candidate.release_id  # type: ignore[union-attr]
    url = f"{dep.info.endpoints.rest}/predict"
    body = json.dumps({"inputs": [one_row()]})
    n, hits = 1200, 0
    with httpx.Client(timeout=30, headers=auth) as http:
        for _ in range(n):
            r = http.post(url, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 200
            hits += r.headers[RELEASE_HEADER] == candidate
    assert within_binomial(hits, n, 0.20), f"{hits}/{n} requests reached the 20% canary"
    client.abort(NAME)


def test_ab_split_is_sticky_per_entity(client, deployment, versions, auth) -> None:  # type: ignore[no-untyped-def]
    _, v2 = versions
    dep = client.rollout(NAME, version=v2, ab=50, sticky_key="tenure")
    url = f"{dep.info.endpoints.rest}/predict"
    frame = training_frame(21)[FEATURES]
    seen: dict[int, set[str]] = {}
    with httpx.Client(timeout=30, headers=auth) as http:
        for _ in range(4):
            for i in range(300):
                row = frame.iloc[i].to_dict()
                r = http.post(url, json={"inputs": [row]})
                assert r.status_code == 200
                seen.setdefault(int(row["tenure"]), set()).add(r.headers[RELEASE_HEADER])
    assert all(len(releases) == 1 for releases in seen.values()), seen
    on_candidate = sum(dep.info.rollout.candidate.release_id in r for r in seen.values())  # type: ignore[union-attr]
    assert within_binomial(on_candidate, len(seen), 0.5), (on_candidate, len(seen))
    client.abort(NAME)


def test_shadow_answers_are_compared_never_returned(client, deployment, versions, auth) -> None:  # type: ignore[no-untyped-def]
    _, v2 = versions
    dep = client.rollout(NAME, version=v2, shadow=True)
    assert dep.info.traffic[deployment.release_id] == 100
    frame = training_frame(21)[FEATURES].head(200)
    stable, candidate = stable_model().predict(frame), candidate_model().predict(frame)
    differ = int((stable != candidate).sum())
    assert 0 < differ < len(frame)  # the two models disagree on some rows, not all
    url = f"{dep.info.endpoints.rest}/predict"
    with httpx.Client(timeout=30, headers=auth) as http:
        for i in range(len(frame)):
            r = http.post(url, json={"inputs": [frame.iloc[i].to_dict()]})
            assert r.status_code == 200
            assert r.headers[RELEASE_HEADER] == deployment.release_id
            assert r.json()["predictions"] == [int(stable[i])]  # never the shadow's answer
    deadline = time.monotonic() + 30
    report = client.shadow_report(NAME)
    while report.requests < len(frame) and time.monotonic() < deadline:
        time.sleep(0.5)
        report = client.shadow_report(NAME)
    assert report.shadow_release_id == dep.info.rollout.candidate.release_id  # type: ignore[union-attr]
    assert report.requests == len(frame) and report.shadow_errors == 0
    assert report.disagreed == differ and report.agreed == len(frame) - differ
    client.abort(NAME)
