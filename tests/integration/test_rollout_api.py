"""Rollouts through the control plane's API (real app and database, fakes for the heavy
capabilities): the state machine, the traffic it asks the runtime for, its refusals (4xx
naming the fix), 409 for concurrent rollouts, roles and the audit trail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from _control_plane import Env

import ferry
from ferry_contract import JobPublic


@pytest.fixture()
def env(tmp_path) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    yield Env(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)


def rid(version: int) -> str:
    return f"alpha-model-v{version}-x"  # FakePackager's release ids


def test_canary_weight_promote_rollback(env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    assert env.runtime.routes["alpha-model"] == {rid(1): 100}

    dep = c.rollout("alpha-model", version=2, canary=10)
    assert dep.info.traffic == {rid(1): 90, rid(2): 10}
    assert dep.info.rollout is not None and dep.info.rollout.mode.value == "canary"
    assert env.runtime.routes["alpha-model"] == {rid(1): 90, rid(2): 10}

    dep = c.set_weight("alpha-model", 50)
    assert env.runtime.routes["alpha-model"] == {rid(1): 50, rid(2): 50}

    dep = c.promote("alpha-model")
    assert dep.release_id == rid(2) and dep.info.rollout is None
    # the old release is kept, without traffic, for an instant rollback
    assert env.runtime.routes["alpha-model"] == {rid(2): 100, rid(1): 0}

    dep = c.rollback("alpha-model")
    assert dep.release_id == rid(1)
    assert env.runtime.routes["alpha-model"] == {rid(1): 100}
    with pytest.raises(ferry.NoPreviousRelease, match="no previous release"):
        c.rollback("alpha-model")

    actions = [e.action for e in env.client(env.admin).audit(limit=50)]
    for action in ("rollout", "rollout.weight", "rollout.promote", "rollback"):
        assert action in actions, actions


def test_ab_is_sticky_and_shadow_takes_no_traffic(env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    c.rollout("alpha-model", version=2, ab=30, sticky_key="customer_id")
    assert env.runtime.sticky["alpha-model"] == "customer_id"
    assert env.runtime.routes["alpha-model"] == {rid(1): 70, rid(2): 30}
    c.abort("alpha-model")
    assert env.runtime.routes["alpha-model"] == {rid(1): 100}

    dep = c.rollout("alpha-model", version=2, shadow=True)
    assert env.runtime.routes["alpha-model"] == {rid(1): 100, rid(2): 0}
    assert dep.info.traffic == {rid(1): 100, rid(2): 0}
    with pytest.raises(ferry.Conflict, match="shadow"):
        c.set_weight("alpha-model", 20)
    assert c.shadow_report("alpha-model").shadow_release_id == rid(2)


def test_refusals_are_4xx_naming_the_fix(env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])
    http = env.http(env.tokens["deployer-a"])
    with pytest.raises(ferry.DeploymentNotFound):
        c.rollout("alpha-model", version=2)
    c.deploy("alpha-model", version=1)
    for weight in (-1, 101, "ten"):
        r = http.patch("/v1/deployments/alpha-model/rollout", json={"weight": weight})
        assert r.status_code == 400, r.text
        r = http.post("/v1/deployments/alpha-model/rollout", json={"version": 2, "weight": weight})
        assert r.status_code == 400, r.text
    with pytest.raises(ferry.InvalidRequest, match="0-100"):
        c.set_weight("alpha-model", 150)
    with pytest.raises(ferry.VersionNotFound, match="no version 9"):
        c.rollout("alpha-model", version=9)
    with pytest.raises(ferry.NoRollout, match="--canary"):
        c.set_weight("alpha-model", 20)
    with pytest.raises(ferry.NoRollout):
        c.promote("alpha-model")
    with pytest.raises(ferry.NoPreviousRelease):
        c.rollback("alpha-model")
    with pytest.raises(ferry.Conflict, match="already serves"):
        c.rollout("alpha-model", version=1)
    r = http.post("/v1/deployments/alpha-model/rollout",
                  json={"version": 2, "mode": "ab"})
    assert r.status_code == 400 and "sticky_key" in r.json()["error"]["message"]
    c.rollout("alpha-model", version=2, canary=5)
    with pytest.raises(ferry.RolloutInProgress, match="promote, abort"):
        c.rollout("alpha-model", version=2, canary=5)
    with pytest.raises(ferry.RolloutInProgress):
        c.deploy("alpha-model", version=2)
    # nothing was lost: the rollout under way is intact
    assert env.runtime.routes["alpha-model"] == {rid(1): 95, rid(2): 5}


def test_two_rollouts_at_once_let_one_through(env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    gate = threading.Event()
    env.runtime.gate = gate
    http = env.http(env.tokens["deployer-a"])
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: http.post(
                "/v1/deployments/alpha-model/rollout", json={"version": 2, "weight": 10}),
                range(6)))
    finally:
        gate.set()
        env.runtime.gate = None
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] + [409] * 5, codes


def test_viewers_and_other_teams_cannot_change_traffic(env: Env) -> None:
    env.client(env.tokens["deployer-a"]).deploy("alpha-model", version=1)
    for user in ("viewer-a", "deployer-b", "outsider"):
        c = env.client(env.tokens[user])
        with pytest.raises(ferry.Forbidden, match="deployer"):
            c.rollout("alpha-model", version=2)
        with pytest.raises(ferry.Forbidden):
            c.rollback("alpha-model")


def test_a_candidate_that_never_starts_gets_no_traffic_and_the_job_says_why(env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    env.runtime.unschedulable.add(rid(2))
    with pytest.raises(ferry.ReleaseFailed, match="never started"):
        c.rollout("alpha-model", version=2, canary=50)
    assert env.runtime.routes["alpha-model"] == {rid(1): 100}
    status = c.status("alpha-model")
    assert status.rollout is None and status.traffic == {rid(1): 100}
    [job] = c.jobs(kind="rollout", target="alpha-model", limit=1)
    assert job.state.value == "failed" and "never started" in job.error["message"]  # type: ignore[index]


def test_a_rollout_of_another_teams_model_needs_a_role_in_both_and_is_audited_under_both(
        env: Env) -> None:
    """Finding: the rollout's ``model`` may name another team's model; promote then moves
    that model's champion. Both teams must allow it, and both see it in their audit log."""
    admin = env.client(env.admin)
    admin.create_user("both")
    admin.set_member("alpha", "both", "deployer")
    admin.set_member("beta", "both", "deployer")
    both = env.client(admin.create_token(user="both").token)
    alpha_only = env.client(env.tokens["deployer-a"])
    alpha_only.deploy("alpha-model", version=1, name="shared")
    from _control_plane import EVAL_ROWS  # beta-model's gate: a pinned set, like alpha's

    both.create_eval_set("beta-model", EVAL_ROWS, label="y")
    admin.set_gate("beta-model", eval_set_version=1)

    with pytest.raises(ferry.Forbidden, match="deployer role in team 'beta'"):
        alpha_only.rollout("shared", version=1, model="beta-model", canary=10)
    assert env.runtime.routes["shared"] == {rid(1): 100}  # nothing changed
    [refusal] = admin.audit(resource="deployment/shared", action="start_rollout", limit=1)
    assert (refusal.outcome, refusal.team, refusal.actor) == ("denied", "beta", "deployer-a")

    both.rollout("shared", version=1, model="beta-model", canary=10)
    both.promote("shared")
    assert env.evaluation_store.champion("beta-model") == 1
    for team, token in (("alpha", env.tokens["admin-a"]), ("beta", env.tokens["deployer-b"])):
        seen = {(e.action, e.outcome) for e in env.client(token).audit(limit=50)
                if e.resource in ("deployment/shared", "model/beta-model")}
        assert {("rollout", "succeeded"), ("rollout.promote", "succeeded")} <= seen, team
    champion = [e for e in admin.audit(resource="model/beta-model", action="champion")]
    assert champion and champion[0].team == "beta" and champion[0].actor == "both"

    # beta-model v2 goes the same way; then a rollback by someone who may not move beta's
    # champion rolls the traffic back (to v1) and leaves the champion at v2, saying so
    both.rollout("shared", version=2, model="beta-model", canary=10)
    both.promote("shared")
    assert env.evaluation_store.champion("beta-model") == 2
    back = alpha_only.rollback("shared")
    assert back.release_id == "beta-model-v1-x"
    assert env.evaluation_store.champion("beta-model") == 2
    [job] = alpha_only.jobs(kind="rollback", target="shared", limit=1)
    assert any("champion of beta-model stays v2" in line.line
               for line in alpha_only.job_logs(job.id))
    # the same rollback by someone who may moves it back with the traffic
    both.rollout("shared", version=2, model="beta-model", canary=10)
    both.promote("shared")
    both.rollback("shared")
    assert env.evaluation_store.champion("beta-model") == 1


def test_an_upgrade_that_changes_the_request_contract_is_refused_before_any_job(
        tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ferry_contract import ColumnSpec

    env = Env(f"sqlite:///{tmp_path / 's.db'}", tmp_path, signatures={
        2: [ColumnSpec(name="x", type="double"), ColumnSpec(name="segment", type="string")]})
    c = env.client(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    jobs_before = len(c.jobs(limit=100))
    with pytest.raises(ferry.ContractChange, match="'segment' \\(string\\) is new"):
        c.deploy("alpha-model", version=2)
    with pytest.raises(ferry.ContractChange, match="both shapes"):
        c.rollout("alpha-model", version=2, canary=10, override_reason="contract test")
    assert len(c.jobs(limit=100)) == jobs_before and env.runtime.routes["alpha-model"] == {
        rid(1): 100}
    dep = c.deploy("alpha-model", version=2, allow_contract_change=True)
    assert dep.release_id == rid(2)
    [event] = [e for e in c.audit(resource="deployment/alpha-model", action="deploy")
               if e.outcome == "succeeded"][:1]
    assert "segment" in " ".join(event.details["contract_change"])


def test_a_worse_version_is_refused_by_the_gate_and_only_admins_move_its_eval_set(env: Env) -> None:
    from _control_plane import EVAL_ROWS

    c = env.client(env.tokens["deployer-a"])
    http = env.http(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    c.rollout("alpha-model", version=2, canary=10)  # evaluated in its job: passes
    c.promote("alpha-model")
    assert env.evaluation_store.champion("alpha-model") == 2
    env.registry.versions["alpha-model"].append(3)  # v3 learned its labels backwards

    # Evaluated inside the rollout job (real answers, real scores): refused, with numbers.
    with pytest.raises(ferry.GateFailed, match=r"roc_auc 0\.\d+ vs champion 0\.\d+") as exc:
        c.rollout("alpha-model", version=3, canary=10)
    failed = {f["name"]: f for f in exc.value.details["failed"]}
    assert {"beats_baseline", "vs_champion"} <= set(failed)
    assert failed["vs_champion"]["value"] < 0.2 < 0.8 < failed["vs_champion"]["reference"]
    assert env.runtime.routes["alpha-model"] == {rid(2): 100, rid(1): 0}  # nothing moved
    [stored] = c.evaluations("alpha-model", 3)
    assert not stored.passed and stored.eval_set_version == 1 and stored.against == 2
    # Known to fail now: refused at once, no job.
    r = http.post("/v1/deployments/alpha-model/rollout", json={"version": 3, "weight": 10})
    assert r.status_code == 422 and r.json()["error"]["code"] == "gate_failed", r.text

    # A deployer uploads a set on which v3 would shine (labels flipped): the gate keeps
    # its pinned set, and only an admin of the team may move the pin.
    flipped = EVAL_ROWS.assign(y=1 - EVAL_ROWS["y"])
    assert c.create_eval_set("alpha-model", flipped, label="y").version == 2
    r = http.post("/v1/deployments/alpha-model/rollout", json={"version": 3, "weight": 10})
    assert r.status_code == 422 and r.json()["error"]["code"] == "gate_failed", r.text
    with pytest.raises(ferry.Forbidden, match="admin"):
        c.set_gate("alpha-model", eval_set_version=2)
    assert c.gate("alpha-model").eval_set_version == 1
    with pytest.raises(ferry.Forbidden):
        env.client(env.tokens["admin-a"]).set_gate("beta-model", eval_set_version=1)
    audit = [e for e in env.client(env.admin).audit(limit=100) if e.action == "put_gate"]
    assert audit and audit[-1].details["to"]["eval_set_version"] == 1


def test_deploy_and_rollout_jobs_time_each_phase_in_their_log(env: Env) -> None:
    import re

    c = env.client(env.tokens["deployer-a"])

    def timed(target: str, kind: str) -> tuple[list[str], str]:
        job = c.jobs(kind=kind, target=target, limit=1)[0]
        lines = [line.line for line in c.job_logs(job.id)]
        phases = [m.group(1) for line in lines if (m := re.fullmatch(r"(.+): \d+\.\d s", line))]
        return phases, lines[-1]

    c.deploy("alpha-model", version=1)
    phases, last = timed("alpha-model", "deploy")
    assert phases == ["resolve", "build", "preflight", "start release and router"]
    assert re.fullmatch(r"alpha-model is serving \S+ \(took \d+\.\d s: resolve \d+\.\d s, "
                        r"build \d+\.\d s, preflight .*start release and router \d+\.\d s\)",
                        last), last
    c.deploy("alpha-model", version=2)
    assert timed("alpha-model", "deploy")[0][-1] == "switch traffic"  # the router was up
    c.rollout("alpha-model", version=1, canary=10)
    # v1 still runs, without traffic, as the previous release: nothing to start
    assert timed("alpha-model", "rollout")[0] == ["resolve", "build", "preflight",
                                                  "switch traffic"]
    env.runtime.broken.add(rid(2))
    with pytest.raises(ferry.FerryError):
        c.deploy("alpha-model", version=2, name="broken")
    job = c.jobs(kind="deploy", target="broken", limit=1)[0]
    assert any(re.fullmatch(r"preflight failed after \d+\.\d s", line.line)
               for line in c.job_logs(job.id))


def test_redeploying_what_serves_skips_the_preflight_and_a_new_protocol_does_not(
        env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])
    c.deploy("alpha-model", version=1)
    loaded = len(env.runtime.bindings)  # one per preflight
    applied = len(env.runtime.applied)  # one per change of the runtime
    c.deploy("alpha-model", version=1)
    job = c.jobs(kind="deploy", target="alpha-model", limit=1)[0]
    lines = [line.line for line in c.job_logs(job.id)]
    assert len(env.runtime.bindings) == loaded
    assert f"preflight: skipped, {rid(1)} serves here already" in lines
    # nothing to start or switch either: the runtime is not touched
    assert len(env.runtime.applied) == applied
    assert f"switch: nothing to change, alpha-model serves {rid(1)} already" in lines
    assert [p.name for p in job.phases] == ["resolve", "build"]
    c.deploy("alpha-model", version=1, protocol="grpc")  # loaded again for the new protocol
    assert len(env.runtime.bindings) == loaded + 1
    c.deploy("alpha-model", version=2, name="other")  # v2 serves nowhere: preflighted
    assert len(env.runtime.bindings) == loaded + 2


def test_jobs_list_their_phases_in_order_within_the_job_and_name_the_failed_one(
        env: Env) -> None:
    c = env.client(env.tokens["deployer-a"])

    def last(kind: str, target: str) -> JobPublic:
        return c.jobs(kind=kind, target=target, limit=1)[0]

    def check(job: JobPublic, names: list[str]) -> None:
        assert [p.name for p in job.phases] == names
        assert job.started_at is not None and job.finished_at is not None
        starts = [p.started for p in job.phases]
        assert starts == sorted(starts) and starts[0] >= job.started_at
        assert all(p.seconds is not None and p.seconds >= 0 for p in job.phases)
        spent = sum(p.seconds or 0 for p in job.phases)
        assert spent <= (job.finished_at - job.started_at).total_seconds() + 1e-3
        for p, nxt in zip(job.phases, job.phases[1:], strict=False):
            assert p.started.timestamp() + (p.seconds or 0) <= nxt.started.timestamp() + 1e-3

    c.deploy("alpha-model", version=1)
    job = last("deploy", "alpha-model")
    check(job, ["resolve", "build", "preflight", "start release and router"])
    assert {p.state.value for p in job.phases} == {"succeeded"}
    c.rollout("alpha-model", version=2, canary=10)
    check(last("rollout", "alpha-model"),
          ["resolve", "build", "preflight", "start release", "switch traffic"])

    env.runtime.broken.add(rid(2))
    with pytest.raises(ferry.FerryError) as failed:
        c.deploy("alpha-model", version=2, name="broken")
    assert failed.value.details.get("phase") == "preflight"
    job = last("deploy", "broken")
    check(job, ["resolve", "build", "preflight"])
    assert [p.state.value for p in job.phases] == ["succeeded", "succeeded", "failed"]
    assert job.error is not None and job.error["details"]["phase"] == "preflight"
