"""Who a pipeline run acts as, and who sees what of pipelines: on the real app and
database (tests/_control_plane.py), with an orchestrator that runs no team code but asks
the control plane, with the run's own token, whom it acts for (as ``ferry.Client()`` in
a step would). No Ray, no Prefect.

- A scheduled or alert-triggered run acts as whoever last registered the pipeline, never
  its creator: a teammate who changes the code answers for it, with their own rights.
- Those rights are read again when the run starts: a user gone, disabled or no longer a
  deployer of the pipeline's team has the run refused (failed, with the reason), and a run
  started by hand is refused if someone else registered the pipeline again since.
- Deleting a pipeline skips its queued runs, and waits for a running one (409).
- Another team's pipelines, runs, batch jobs and their jobs (their params and paths) are
  neither listed nor shown: a read of one answers exactly as a missing one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _control_plane import Env

from ferry_contract import (
    AlertPublic,
    Conflict,
    PipelineCreate,
    PipelineRunPublic,
    RunState,
    Trigger,
)
from ferry_platform.access import SYSTEM
from ferry_platform.pipelines import RunRequest

MODULE = "team_pipelines.nightly:retrain"


class AskingOrchestrator:
    """The :class:`~ferry_platform.pipelines.Orchestrator` interface. Instead of the team's
    code, each run asks ``GET /v1/whoami`` with the token it was given and returns the
    answer; a run with ``params={"block": True}`` waits for :attr:`release` first."""

    def __init__(self) -> None:
        self.ask: Callable[[str], str] = lambda token: ""
        self.acted_as: dict[str, str] = {}  # run id -> the user its token is
        self.entered = threading.Event()
        self.release = threading.Event()

    def run(self, request: RunRequest,
            on_steps: Callable[[list[tuple[str, str]]], None] | None = None,
            ) -> dict[str, Any]:
        if request.params.get("block"):
            self.entered.set()
            assert self.release.wait(30), "the test never released the run"
        self.acted_as[request.run_id] = self.ask(request.ferry_token)
        return {"state": "succeeded", "steps": [], "result": {"as": self.acted_as[request.run_id]}}

    def stop(self) -> None:
        self.release.set()


@pytest.fixture(scope="module")
def orchestrator() -> AskingOrchestrator:
    return AskingOrchestrator()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory,
        orchestrator: AskingOrchestrator) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("pipeline-security")
    e = Env(f"sqlite:///{home / 'state.db'}", home, orchestrator=orchestrator)
    orchestrator.ask = lambda token: e.http(token).get("/v1/whoami").json()["user"]
    yield e
    orchestrator.stop()


def _user(env: Env, name: str, team: str | None = "alpha", role: str = "deployer") -> Any:
    """A user of its own for one test (a role change never leaks into another test)."""
    admin = env.client(env.admin)
    admin.create_user(name)
    if team:
        admin.set_member(team, name, role)
    env.tokens[name] = admin.create_token(user=name).token
    return env.platform.access.authenticate(env.tokens[name])


def _register(env: Env, name: str, who: Any, **kw: Any) -> Any:
    return env.platform.app.pipelines.register(
        name, PipelineCreate(module=MODULE, team="alpha", **kw), who)


def _alert(model: str) -> AlertPublic:
    return AlertPublic(id=7, deployment=model, model=model, kind="prediction_drift",
                       state="open", team="alpha", opened_at=datetime.now(UTC))


def _finish(env: Env, run: Any) -> Any:
    """The run's record once its job ended."""
    record = env.platform.app.pipelines._store.get_run(run.id)
    assert record is not None and record.job_id, record
    env.platform.jobs.wait(record.job_id, timeout=30)
    return env.client(env.admin).pipelines.get_run(run.id)


def test_an_unattended_run_acts_as_the_last_editor_not_the_creator(
        env: Env, orchestrator: AskingOrchestrator) -> None:
    creator, editor = _user(env, "creator-1"), _user(env, "editor-1")
    _register(env, "p-edited", creator, schedule="*/5 * * * *", on_alert=["m-edited:drift"])
    p = _register(env, "p-edited", editor, schedule="*/5 * * * *",
                  on_alert=["m-edited:drift"], description="changed by a teammate")
    assert (p.created_by, p.updated_by, p.revision) == ("creator-1", "editor-1", 2)
    shown = env.client(env.tokens["viewer-a"]).pipelines.get("p-edited")
    assert shown.updated_by == "editor-1"

    [scheduled] = env.platform.app.pipelines.tick(p.updated_at + timedelta(minutes=5))
    assert scheduled.actor == "editor-1"
    run = _finish(env, scheduled)
    assert run.state is RunState.succeeded and run.actor == "editor-1" and run.revision == 2
    assert orchestrator.acted_as[run.id] == "editor-1"  # the token was the editor's

    [alerted] = env.platform.app.pipelines.on_alert(_alert("m-edited"), "opened")
    run = _finish(env, alerted)
    assert run.trigger.value == "alert" and orchestrator.acted_as[run.id] == "editor-1"


@pytest.mark.parametrize("lose", ["demoted", "removed", "disabled"])
def test_an_unattended_run_is_refused_when_its_user_lost_the_right(
        env: Env, orchestrator: AskingOrchestrator, lose: str) -> None:
    """Rights are those of the moment the run starts, never those its user once had."""
    editor = _user(env, f"editor-{lose}")
    name, model = f"p-{lose}", f"m-{lose}"
    _register(env, name, editor, on_alert=[f"{model}:drift"])
    admin = env.client(env.admin)
    if lose == "demoted":
        admin.set_member("alpha", editor.user, "viewer")
    elif lose == "removed":
        admin.remove_member("alpha", editor.user)
    else:
        admin.update_user(editor.user, disabled=True)

    [started] = env.platform.app.pipelines.on_alert(_alert(model), "opened")
    run = _finish(env, started)
    assert run.state is RunState.failed and run.id not in orchestrator.acted_as
    assert run.actor == editor.user and editor.user in (run.error or "")
    assert ("disabled" if lose == "disabled" else "deployer") in (run.error or "")
    assert "registering it again" in (run.error or "") and "refused" in run.reason
    job = env.platform.job_store.get(run.job_id)
    assert job.state == "failed" and "refused" in job.error["message"]

    # a deployer of the team takes it over by registering it again: runs act as them
    taker = _user(env, f"taker-{lose}")
    _register(env, name, taker, on_alert=[f"{model}:drift"])
    [again] = env.platform.app.pipelines.on_alert(_alert(model), "opened")
    run = _finish(env, again)
    assert run.state is RunState.succeeded and orchestrator.acted_as[run.id] == taker.user


def _blocked_run(env: Env, orchestrator: AskingOrchestrator, name: str,
                 who: Any) -> PipelineRunPublic:
    """Start a run of ``name`` that holds its pipeline until ``orchestrator.release``."""
    orchestrator.entered.clear()
    orchestrator.release.clear()
    run = env.platform.app.pipelines.run(name, who, {"block": True})
    assert orchestrator.entered.wait(30)
    return run


def test_queued_runs_are_bounded_and_the_oldest_starts_however_many_came_after(
        env: Env, orchestrator: AskingOrchestrator) -> None:
    from ferry_platform.application._pipelines import MAX_QUEUED_RUNS

    owner = _user(env, "owner-queue")
    _register(env, "p-queue", owner)
    pipelines = env.platform.app.pipelines
    first = _blocked_run(env, orchestrator, "p-queue", owner)
    queued = [pipelines.run("p-queue", owner, {"n": i}) for i in range(MAX_QUEUED_RUNS)]
    with pytest.raises(Conflict, match=f"{MAX_QUEUED_RUNS} runs queued"):
        pipelines.run("p-queue", owner, {})
    # an unattended trigger past the bound is recorded, as skipped
    late = pipelines._start(pipelines._get("p-queue"), SYSTEM, Trigger.schedule, "cron", {})
    assert late.state == RunState.skipped.value and "queued already" in (late.reason or "")
    for _ in range(60):  # more runs recorded after the queued ones than any page holds
        pipelines._store.add_run("p-queue", state=RunState.skipped.value, trigger="schedule",
                                 actor="ferry", params={}, revision=1, team="alpha",
                                 reason="skipped")
    orchestrator.release.set()
    assert _finish(env, first).state is RunState.succeeded
    pipelines.tick()
    assert _finish(env, queued[0]).params == {"n": 0}  # the oldest, not a newer one
    pipelines.delete("p-queue", owner)  # the other queued runs are skipped


def test_a_queued_run_is_refused_if_someone_else_registers_the_pipeline_again(
        env: Env, orchestrator: AskingOrchestrator) -> None:
    """A run started by hand runs the revision its starter chose, or not at all."""
    starter, editor = _user(env, "starter-q"), _user(env, "editor-q")
    _register(env, "p-queued", starter)
    pipelines = env.platform.app.pipelines
    first = _blocked_run(env, orchestrator, "p-queued", starter)
    queued = pipelines.run("p-queued", starter, {})
    assert queued.state is RunState.queued and queued.revision == 1
    _register(env, "p-queued", editor, description="swapped under the queued run")
    orchestrator.release.set()
    assert _finish(env, first).state is RunState.succeeded

    [] = pipelines.tick()  # starts the queued run: nothing due on a schedule
    run = _finish(env, queued)
    assert run.state is RunState.failed and run.id not in orchestrator.acted_as
    assert "'editor-q' registered the pipeline again (revision 2)" in (run.error or "")
    # started again, it runs the new revision as its starter
    again = pipelines.run("p-queued", starter, {})
    run = _finish(env, again)
    assert run.state is RunState.succeeded and run.revision == 2
    assert orchestrator.acted_as[run.id] == "starter-q"


def test_deleting_a_pipeline_skips_its_queued_runs_and_waits_for_a_running_one(
        env: Env, orchestrator: AskingOrchestrator) -> None:
    """A queued run of a deleted pipeline never starts (nor stays queued forever); a
    running one is never cut short, so the deletion is refused (409) until it ends."""
    from ferry_contract import Trigger
    from ferry_platform.access import SYSTEM

    owner = _user(env, "owner-del")
    p = _register(env, "p-deleted", owner, schedule="*/5 * * * *")
    pipelines = env.platform.app.pipelines
    running = _blocked_run(env, orchestrator, "p-deleted", owner)
    by_hand = pipelines.run("p-deleted", owner, {})
    [scheduled] = [r for r in pipelines.tick(p.updated_at + timedelta(minutes=5))
                   if r.pipeline == "p-deleted"]
    assert by_hand.state is RunState.queued and scheduled.state == "queued"

    http = env.http(env.tokens["owner-del"])
    r = http.delete("/v1/pipelines/p-deleted")
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "conflict" and running.id in err["message"], err
    assert "wait for it to end" in err["message"] and err["details"]["run"] == running.id
    assert http.get("/v1/pipelines/p-deleted").status_code == 200  # nothing was done

    orchestrator.release.set()
    assert _finish(env, running).state is RunState.succeeded
    stale = pipelines._store.get_pipeline("p-deleted")  # as a tick read it, just before
    assert http.delete("/v1/pipelines/p-deleted").status_code == 204
    admin = env.client(env.admin)
    for queued in (by_hand, scheduled):
        run = admin.pipelines.get_run(queued.id)
        assert run.state is RunState.skipped and run.finished_at is not None, run
        assert "owner-del deleted the pipeline before the run started" in run.reason
    assert pipelines.tick() == []
    [event] = admin.audit(action="delete_pipeline", limit=1)
    assert set(event.details["skipped_runs"]) == {by_hand.id, scheduled.id}

    # a run added by a tick or an alert that read the pipeline just before it went:
    # skipped when its job starts, the team's code never run
    late = pipelines._start(stale, SYSTEM, Trigger.alert, "alert read before the delete",
                            {})
    run = _finish(env, late)
    assert run.state is RunState.skipped and "deleted before the run started" in run.reason
    assert run.id not in orchestrator.acted_as


def _hidden_as_missing(http: Any, path: str, hidden: str, missing: str,
                       method: str = "GET") -> None:
    """``path`` (naming ``hidden``) answers exactly as the same path naming ``missing``."""
    got = http.request(method, path)
    absent = http.request(method, path.replace(hidden, missing))
    assert got.status_code == absent.status_code == 404, (got.text, absent.text)
    assert got.json() == json.loads(absent.text.replace(missing, hidden)), got.text


def test_another_teams_pipelines_and_runs_answer_as_missing_ones(env: Env) -> None:
    owner = _user(env, "owner-read")
    _register(env, "p-private", owner, description="reads /data/alpha-only")
    run = _finish(env, env.platform.app.pipelines.run(
        "p-private", owner, {"entities_path": "/data/alpha-only/entities.parquet"}))
    member, outsider = env.http(env.tokens["viewer-a"]), env.http(env.tokens["deployer-b"])
    admin = env.http(env.admin)

    def names(http: Any) -> set[str]:
        return {p["name"] for p in http.get("/v1/pipelines").json()}

    assert "p-private" in names(member) and "p-private" in names(admin)
    assert "p-private" not in names(outsider)
    _hidden_as_missing(outsider, "/v1/pipelines/p-private", "p-private", "p-nowhere")
    _hidden_as_missing(outsider, "/v1/pipelines/p-private/runs", "p-private", "p-nowhere")
    _hidden_as_missing(outsider, f"/v1/pipeline-runs/{run.id}", run.id, "0" * 16)
    # acting on it, too, answers as for a missing one (no 403 naming its team)
    _hidden_as_missing(outsider, "/v1/pipelines/p-private", "p-private", "p-nowhere",
                       method="DELETE")
    _hidden_as_missing(outsider, "/v1/pipelines/p-private/runs", "p-private", "p-nowhere",
                       method="POST")
    # its name is taken (names are one namespace), but whose it is is not said
    taken = outsider.put("/v1/pipelines/p-private", json={"module": MODULE, "team": "beta"})
    assert taken.status_code == 409 and "alpha" not in taken.text, taken.text
    assert env.platform.app.pipelines.get("p-private", owner).team == "alpha"
    shown = member.get(f"/v1/pipeline-runs/{run.id}").json()
    assert shown["params"] == {"entities_path": "/data/alpha-only/entities.parquet"}
    assert member.get("/v1/pipelines/p-private/runs").json()[0]["id"] == run.id
    # the run's job holds its parameters too: the same rule on /v1/jobs
    assert run.job_id is not None
    _hidden_as_missing(outsider, f"/v1/jobs/{run.job_id}", run.job_id, "0" * 16)
    _hidden_as_missing(outsider, f"/v1/jobs/{run.job_id}/logs", run.job_id, "0" * 16)
    for http, sees in ((member, True), (admin, True), (outsider, False)):
        for query in ("", "?kind=pipeline", "?target=p-private"):
            ids = {j["id"] for j in http.get(f"/v1/jobs{query}").json()}
            assert (run.job_id in ids) is sees, (query, sees)
    assert admin.get(f"/v1/pipeline-runs/{run.id}").status_code == 200
    # a pipeline-scoped token reads as the user it acts for: no further
    token = env.platform.access.issue_token("deployer-b", "a run of beta's",
                                            ttl=timedelta(minutes=5), scope="pipeline")
    assert "p-private" not in names(env.http(token.secret))


def test_another_teams_batch_jobs_answer_as_missing_ones(env: Env) -> None:
    """A batch job's request names its source and destination: its team's only."""
    request = {"deployment": "m-batch", "source": "s3://alpha-private/in/",
               "dest": "s3://alpha-private/out/"}
    job = env.platform.job_store.create("batch.score", "m-batch", "deployer-a", "alpha",
                                        request)
    member, outsider = env.http(env.tokens["viewer-a"]), env.http(env.tokens["deployer-b"])
    admin = env.http(env.admin)
    for http, sees in ((member, True), (admin, True), (outsider, False)):
        listed = {j["id"] for j in http.get("/v1/batch-jobs").json()}
        jobs = {j["id"] for j in http.get("/v1/jobs?kind=batch.score").json()}
        assert (job.id in listed) is sees and (job.id in jobs) is sees
    assert member.get(f"/v1/batch-jobs/{job.id}").json()["request"]["dest"] == request["dest"]
    _hidden_as_missing(outsider, f"/v1/batch-jobs/{job.id}", job.id, "f" * 16)
    _hidden_as_missing(outsider, f"/v1/jobs/{job.id}", job.id, "f" * 16)
    # paging past a hidden job is paging past a missing one
    _hidden_as_missing(outsider, f"/v1/jobs?before={job.id}", job.id, "f" * 16)
    _hidden_as_missing(outsider, f"/v1/batch-jobs?before={job.id}", job.id, "f" * 16)
    older = env.platform.job_store.create("batch.score", "m-batch", "deployer-a", "alpha",
                                          request)
    pages = [[j.id for j in env.client(env.tokens["viewer-a"]).batch.list(1, before=b)]
             for b in (None, older.id)]
    assert pages[0] == [older.id] and job.id in pages[1] and older.id not in pages[1]
    # jobs of other kinds stay readable by every team (docs/security.md says so)
    deploy = env.platform.job_store.create("deploy", "m-seen", "deployer-a", "alpha", {})
    assert outsider.get(f"/v1/jobs/{deploy.id}").status_code == 200
    assert deploy.id in {j["id"] for j in outsider.get("/v1/jobs").json()}


def test_a_feature_views_schedule_is_for_its_teams_deployers(env: Env) -> None:
    """Scheduling a view's materialization (or changing, or removing the schedule) needs
    the deployer role in the team owning the view (its Feast tag ``team``), not in any
    team: another team can no longer move or drop alpha's schedule. A view no team owns:
    platform admins only. (The fake feature store holds ``stats``, alpha's, and
    ``shared``, no team's.)"""
    path = "/v1/features/views/{}/schedule"
    alpha, beta = env.http(env.tokens["deployer-a"]), env.http(env.tokens["deployer-b"])
    admin = env.http(env.admin)
    views = {v["name"]: v["team"] for v in beta.get("/v1/features/views").json()}
    assert views == {"stats": "alpha", "shared": None}

    r = beta.put(path.format("stats"), json={"cron": "0 * * * *"})
    assert r.status_code == 403, r.text
    assert "deployer role in team 'alpha'" in r.json()["error"]["message"]
    assert env.http(env.tokens["viewer-a"]).put(path.format("stats"),
                                                 json={"cron": "0 * * * *"}).status_code == 403
    assert alpha.put(path.format("stats"), json={"cron": "0 * * * *"}).status_code == 200
    assert beta.put(path.format("stats"), json={"cron": "0 0 1 1 *"}).status_code == 403
    assert beta.delete(path.format("stats")).status_code == 403
    [kept] = [s for s in admin.get("/v1/features/schedules").json() if s["view"] == "stats"]
    assert (kept["cron"], kept["created_by"]) == ("0 * * * *", "deployer-a")
    [denied] = env.client(env.admin).audit(action="delete_materialization_schedule", limit=1)
    assert (denied.actor, denied.outcome, denied.resource) == (
        "deployer-b", "denied", "features/stats")
    events = env.client(env.admin).audit(action="put_materialization_schedule", team="alpha")
    assert [(e.actor, e.outcome) for e in events] == [
        ("deployer-b", "denied"), ("deployer-a", "succeeded"), ("viewer-a", "denied"),
        ("deployer-b", "denied")]  # each under the view's team, newest first

    r = alpha.put(path.format("shared"), json={"cron": "0 * * * *"})
    assert r.status_code == 403 and "no Feast tag 'team'" in r.text, r.text
    assert admin.put(path.format("shared"), json={"cron": "0 * * * *"}).status_code == 200
    assert alpha.delete(path.format("shared")).status_code == 403
    assert admin.delete(path.format("shared")).status_code == 204
    assert alpha.delete(path.format("stats")).status_code == 204
    assert beta.put(path.format("nope"), json={"cron": "0 * * * *"}).status_code == 404


def test_pipelines_and_their_runs_page_without_skipping_or_repeating(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = _user(env, "owner-pages")
    names = [f"p-page-{i}" for i in range(5)]
    for name in names:
        _register(env, name, owner)
    http = env.http(env.tokens["viewer-a"])
    seen: list[str] = []
    url: str | None = "/v1/pipelines?limit=2"
    while url:
        r = http.get(url)
        assert r.status_code == 200 and len(r.json()) <= 2, r.text
        seen += [p["name"] for p in r.json()]
        url = r.headers["link"].split(">")[0].lstrip("<") if "link" in r.headers else None
    assert [n for n in seen if n.startswith("p-page-")] == names and len(seen) == len(set(seen))
    from ferry._resources import pipelines as sdk_pipelines

    monkeypatch.setattr(sdk_pipelines, "_PAGE", 2)  # the SDK's list follows every page
    assert [p.name for p in env.client(env.tokens["viewer-a"]).pipelines.list()] == seen
    store = env.platform.app.pipelines._store
    made = [store.add_run(names[0], state=RunState.skipped.value, trigger="schedule",
                          actor="ferry", params={"n": i}, revision=1, team="alpha",
                          reason="skipped").id for i in range(7)]
    client, got = env.client(env.tokens["viewer-a"]), []
    page = client.pipeline_runs(names[0], limit=3)
    while page:
        got += [r.id for r in page]
        page = client.pipeline_runs(names[0], limit=3, before=page[-1].id)
    assert got == made[::-1]
    assert http.get(f"/v1/pipelines/{names[0]}/runs?before={'0' * 16}").status_code == 404
