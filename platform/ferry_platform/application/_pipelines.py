"""Pipelines: who may register and run them, what is recorded, when they run.

A run is a job (kind ``pipeline``) holding the lock ``pipeline/<name>``, so two runs of one
pipeline never run at once, on any control-plane process; a run due while another is under
way is queued (``overlap=wait``, started when the other ends) or recorded as skipped
(``overlap=skip``). The run's code gets a token of its own (scope ``pipeline``: it may
register, evaluate and start a canary as the user who started the run, or as the user who
last registered the pipeline for scheduled and alert-triggered runs — whoever last chose
its code and parameters answers for it; never promote, move the champion or override a
gate), revoked when the run ends. When the run starts, that user's rights are read again
(gone, disabled or no longer a deployer of the pipeline's team: the run is refused, recorded
as failed with the reason), and a run started by hand is refused if someone else
registered the pipeline again since. What the token did (versions registered,
evaluations, the canary) is read back from the audit log and linked on the run and on its
MLflow run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ferry_contract import (
    AlertPublic,
    Conflict,
    FeatureNotFound,
    Forbidden,
    InvalidRequest,
    JobKind,
    MaterializationSchedulePublic,
    MaterializationScheduleUpdate,
    MaterializeCreate,
    PipelineCreate,
    PipelineFailed,
    PipelineNotFound,
    PipelinePublic,
    PipelineRunPublic,
    RunState,
    StepRunPublic,
    Trigger,
    alert_matches,
)
from ferry_platform.access import SYSTEM, AccessService, IdentityStore, Principal
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._features import FEATURES, Features
from ferry_platform.application._policy import Policy, resource
from ferry_platform.jobs import JobContext
from ferry_platform.pipelines import Orchestrator, RunRequest, due, next_after
from ferry_platform.store import (
    FeatureScheduleRecord,
    PipelineRecord,
    PipelineRunRecord,
    PipelineStore,
)

log = logging.getLogger("ferry.pipelines")

PIPELINE_SCOPE = "pipeline"
ACTIVE = (RunState.queued.value, RunState.running.value)
MAX_QUEUED_RUNS = 20
"""Runs of one pipeline that may wait (``overlap="wait"``); past it a manual run is a 409
and a scheduled or alert-triggered one is recorded as skipped."""


class RunLog(Protocol):
    """Where runs are shared (MLflow)."""

    def record(self, pipeline: str, run_id: str, *, params: dict[str, Any],
               metrics: dict[str, float], tags: dict[str, str], state: str,
               outcome: dict[str, Any], registered: list[tuple[str, int]]) -> str: ...


def _next_or_none(cron: str | None, last: datetime | None) -> datetime | None:
    """When ``cron`` fires next (None: no schedule, or one that never fires)."""
    if not cron:
        return None
    try:
        return next_after(cron, max(_now(), last or _now()))
    except InvalidRequest:  # saved before crons were checked: shown without a next run
        return None


def _now() -> datetime:
    return datetime.now(UTC)


def run_public(r: PipelineRunRecord) -> PipelineRunPublic:
    o = r.outcome or {}
    return PipelineRunPublic(
        id=r.id, pipeline=r.pipeline, state=RunState(r.state), trigger=Trigger(r.trigger),
        reason=r.reason, actor=r.actor, revision=r.revision, job_id=r.job_id, params=r.params,
        steps=[StepRunPublic(**{k: v for k, v in s.items() if k in StepRunPublic.model_fields})
               for s in o.get("steps", [])],
        result=o.get("result"), error=o.get("error"), failed_step=o.get("failed_step"),
        mlflow_run_id=o.get("mlflow_run_id"), code_version=o.get("code_version"),
        data_digest=o.get("data_digest"), registered=o.get("registered", []),
        evaluations=o.get("evaluations", []), canary=o.get("canary"),
        created_at=r.created_at, started_at=r.started_at, finished_at=r.finished_at)


def _metrics_params(result: Any) -> tuple[dict[str, float], dict[str, str]]:
    """What a pipeline returned, for MLflow: numbers are metrics, the rest params."""
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    if isinstance(result, dict):
        for k, v in result.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                metrics[str(k)] = float(v)
            elif v is not None:
                params[f"result.{k}"] = str(v)
    return metrics, params


class Pipelines:
    def __init__(self, *, policy: Policy, access: AccessService, audit: Audit,
                 jobs: AuditedJobs, store: PipelineStore, identity_store: IdentityStore,
                 orchestrator: Orchestrator | None, run_log: RunLog | None,
                 ferry_url: Callable[[], str | None],
                 features: Features | None = None) -> None:
        self._policy = policy
        self._access = access
        self._audit = audit
        self._jobs = jobs
        self._store = store
        self._identity = identity_store
        self._orchestrator = orchestrator
        self._run_log = run_log
        self._ferry_url = ferry_url
        self._tick_lock = threading.Lock()
        self._features = features

    # -- registration ---------------------------------------------------------------------
    def _get(self, name: str, who: Principal | None = None) -> PipelineRecord:
        """The pipeline ``name``; with ``who``, only if ``who`` may read it: another
        team's answers exactly as a missing one (its existence does not leak)."""
        found = self._store.get_pipeline(name)
        if found is None or (who is not None and not self._policy.may_read(who, found.team)):
            raise PipelineNotFound(f"no pipeline {name!r}; list them with `ferry pipelines "
                                   "list`, register one with `ferry pipelines register`")
        return found

    def public(self, p: PipelineRecord) -> PipelinePublic:
        runs = self._store.runs(p.name, limit=1)
        nxt = _next_or_none(p.schedule, p.scheduled_at)
        return PipelinePublic(
            name=p.name, team=p.team, module=p.module, path=p.path, schedule=p.schedule,
            on_alert=p.on_alert, overlap=p.overlap,  # type: ignore[arg-type]
            description=p.description, timeout_s=p.timeout_s, created_by=p.created_by,
            updated_by=p.updated_by or p.created_by, revision=p.revision,
            created_at=p.created_at, updated_at=p.updated_at, next_run_at=nxt,
            last_run=run_public(runs[0]) if runs else None)

    def register(self, name: str, body: PipelineCreate, who: Principal) -> PipelinePublic:
        existing = self._store.get_pipeline(name)
        team = body.team or (existing.team if existing else None)
        if team is None:
            teams = who.teams_with("deployer")
            if len(teams) != 1:
                raise InvalidRequest(
                    f"name the pipeline's team (team=...): {who.user!r} is a deployer in "
                    f"{teams or 'no team'}", details={"teams": teams})
            team = teams[0]
        if not self._access.team_exists(team):
            raise InvalidRequest(f"no team {team!r}; list teams with `ferry teams`")
        res = resource("pipeline", name)
        if existing is not None and not self._policy.may_read(who, existing.team):
            # names are one namespace: say it is taken, never whose it is
            raise Conflict(f"the pipeline name {name!r} is taken; choose another name",
                           details={"pipeline": name})
        if existing is not None and existing.team != team:
            self._policy.require(who, "put_pipeline", resource=res, team=existing.team)
        self._policy.require(who, "put_pipeline", resource=res, team=team)
        if body.schedule:
            next_after(body.schedule, _now())  # a 400 naming a schedule that never fires
        record = self._store.put_pipeline(
            name, team=team, module=body.module, path=body.path, schedule=body.schedule,
            on_alert=body.on_alert, overlap=body.overlap.value, description=body.description,
            timeout_s=body.timeout_s, actor=who.user)
        self._audit(who, "put_pipeline", res, [team], "succeeded",
                    {"module": body.module, "path": body.path, "schedule": body.schedule,
                     "on_alert": body.on_alert, "overlap": body.overlap.value,
                     "created": existing is None, "revision": record.revision})
        return self.public(record)

    def delete(self, name: str, who: Principal) -> None:
        """Unregister ``name``: its queued runs are recorded as skipped (they never start);
        refused (409) while a run of it is running, which is never cut short."""
        p = self._get(name, who)
        self._policy.require(who, "delete_pipeline", resource=resource("pipeline", name),
                             team=p.team)
        for r in self._active(name):  # a run whose process died is failed, not "running"
            self._settle(r)             # forever
        done = self._store.delete_pipeline(
            name, skip_reason=f"skipped: {who.user} deleted the pipeline before the run "
                              "started")
        if done.running:
            r = done.running[0]
            raise Conflict(
                f"pipeline {name} has a run under way (run {r.id}, job {r.job_id}), and a "
                f"running run is never cut short: wait for it to end (`ferry jobs show "
                f"{r.job_id} -f`), then delete the pipeline again",
                details={"run": r.id, "job": r.job_id})
        if not done.deleted:  # deleted by another request in between
            self._get(name, who)
        self._audit(who, "delete_pipeline", resource("pipeline", name), [p.team], "succeeded",
                    {"skipped_runs": [r.id for r in done.skipped]})

    # -- reads: the caller's teams' pipelines and runs (platform admins: all) ------------
    def all(self, who: Principal, *, after: str | None = None,
            limit: int | None = None) -> list[PipelinePublic]:
        """By name, named after ``after``, at most ``limit``: the caller's teams'."""
        teams = self._policy.readable_teams(who)
        return [self.public(p) for p in self._store.pipelines(teams, after=after, limit=limit)]

    def get(self, name: str, who: Principal) -> PipelinePublic:
        return self.public(self._get(name, who))

    def runs(self, name: str | None, who: Principal, *, state: str | None = None,
             limit: int = 50, before: str | None = None) -> list[PipelineRunPublic]:
        """Newest first: of ``name`` (404 unless ``who`` reads it), or of every pipeline;
        ``before``: the id of the last run seen (the next page)."""
        if name is not None:
            self._get(name, who)
        cursor = None
        if before is not None:
            last = self.run_record(before, who)
            cursor = (last.created_at, last.id)
        return [run_public(r) for r in self._store.runs(
            name, state=state, limit=limit, teams=self._policy.readable_teams(who),
            before=cursor)]

    def run_record(self, run_id: str, who: Principal) -> PipelineRunPublic:
        found = self._store.get_run(run_id)
        if found is None or not self._policy.may_read(who, found.team):
            raise PipelineNotFound(f"no pipeline run {run_id!r}; list runs with `ferry "
                                   "pipelines runs`")
        return run_public(found)

    # -- runs -------------------------------------------------------------------------------
    def run(self, name: str, who: Principal, params: dict[str, Any] | None = None,
            ) -> PipelineRunPublic:
        """Start a run by hand (``run_pipeline``): queued or skipped if one is under way."""
        p = self._get(name, who)
        self._policy.require(who, "run_pipeline", resource=resource("pipeline", name),
                             team=p.team)
        if who.scope == PIPELINE_SCOPE:
            raise Forbidden("a pipeline run may not start pipelines (no chains of runs); "
                            "schedule it or trigger it on an alert instead")
        return run_public(self._start(p, who, Trigger.manual, f"by {who.user}", params or {}))

    def _start(self, p: PipelineRecord, who: Principal, trigger: Trigger, reason: str,
               params: dict[str, Any]) -> PipelineRunRecord:
        # unattended runs act as whoever last chose the pipeline's code and parameters
        actor = who.user if trigger is Trigger.manual else (p.updated_by or p.created_by)
        active = self._active(p.name)
        queued = sum(r.state == RunState.queued.value for r in active)
        if active and p.overlap != "skip" and queued >= MAX_QUEUED_RUNS:
            if trigger is Trigger.manual:
                raise Conflict(
                    f"pipeline {p.name} has {queued} runs queued already (at most "
                    f"{MAX_QUEUED_RUNS}); wait for them (`ferry pipelines runs {p.name}`), "
                    "or register it with overlap='skip'",
                    details={"pipeline": p.name, "queued": queued})
        if active and (p.overlap == "skip" or queued >= MAX_QUEUED_RUNS):
            run = self._store.add_run(p.name, state=RunState.skipped.value,
                                      trigger=trigger.value, actor=actor, params=params,
                                      revision=p.revision, team=p.team,
                                      reason=f"{reason}; skipped: " + (
                                          f"run {active[0].id} was {active[0].state}"
                                          if p.overlap == "skip" else
                                          f"{queued} runs were queued already"))
            self._audit(who, "run_pipeline", resource("pipeline", p.name), [p.team],
                        "skipped", {"run": run.id, "trigger": trigger.value,
                                    "under_way": active[0].id})
            return run
        run = self._store.add_run(p.name, state=RunState.queued.value, trigger=trigger.value,
                                  actor=actor, params=params, reason=reason,
                                  revision=p.revision, team=p.team)
        if not active:
            self._launch(p, run, who)
        return self._store.get_run(run.id) or run

    def _launch(self, p: PipelineRecord, run: PipelineRunRecord, who: Principal) -> bool:
        """Submit ``run``'s job; False if another run holds the pipeline's lock (it stays
        queued, or is skipped under ``overlap=skip``)."""
        def work(ctx: JobContext) -> dict[str, Any]:
            return self._execute(ctx, p, run)

        try:
            job = self._jobs.submit(
                who, JobKind.pipeline, p.name, resource("pipeline", p.name), [p.team],
                {"run": run.id, "trigger": run.trigger, "params": run.params}, work,
                lock=f"pipeline/{p.name}", long=True,
                summary=lambda r: {"run": r.get("run"), "state": r.get("state"),
                                   "registered": r.get("registered"),
                                   "canary": r.get("canary")})
        except Conflict:
            if p.overlap == "skip":
                self._store.update_run(run.id, state=RunState.skipped.value,
                                       finished_at=_now(),
                                       reason=f"{run.reason}; skipped: another run was under way")
            return False
        self._store.update_run(run.id, job_id=job.id)
        return True

    def _execute(self, ctx: JobContext, p: PipelineRecord, run: PipelineRunRecord,
                 ) -> dict[str, Any]:
        if self._orchestrator is None:
            raise InvalidRequest("this control plane runs no pipelines (no orchestrator)")
        started = _now()
        claimed = self._store.claim_run(run.id, ctx.job_id, started)
        if claimed is None:  # settled before it started: its pipeline was deleted
            now = self._store.get_run(run.id)
            state = now.state if now is not None else "gone"
            ctx.step(f"{p.name} run {run.id} was {state} before it started", 100)
            return {"run": run.id, "state": state}
        run, current = claimed
        if current is None:
            self._store.update_run(run.id, state=RunState.skipped.value, finished_at=_now(),
                                   reason=f"{run.reason}; skipped: the pipeline was deleted "
                                          "before the run started")
            ctx.step(f"{p.name} run {run.id} skipped: the pipeline was deleted", 100)
            return {"run": run.id, "state": RunState.skipped.value}
        p = current
        actor, refused = self._acting_user(p, run)
        if actor != run.actor or run.revision != p.revision:
            run = self._store.update_run(run.id, actor=actor, revision=p.revision) or run
        if refused is not None:
            self._store.update_run(run.id, state=RunState.failed.value, finished_at=_now(),
                                   reason=f"{run.reason}; refused", outcome={
                                       "state": "failed", "steps": [], "error": refused})
            raise PipelineFailed(f"pipeline {p.name} run {run.id} was refused: {refused}",
                                 details={"run": run.id, "actor": actor, "error": refused})
        token = self._access.issue_token(
            run.actor, f"pipeline run {p.name}/{run.id}",
            ttl=timedelta(seconds=p.timeout_s + 600), scope=PIPELINE_SCOPE)
        self._store.update_run(run.id, token_id=token.id)
        ctx.step(f"running {p.name} ({p.module}) as {run.actor}", 5)

        def on_steps(tasks: list[tuple[str, str]]) -> None:
            done = sum(state in ("COMPLETED", "FAILED", "CRASHED") for _, state in tasks)
            name, state = tasks[-1] if tasks else ("", "")
            ctx.step(f"{p.name}: step {name.rsplit('-', 1)[0]} {state.lower()} "
                     f"({done} step(s) done)", min(85, 10 + 5 * done))

        try:
            outcome = self._orchestrator.run(RunRequest(
                run_id=run.id, module=p.module, path=p.path, params=run.params,
                ferry_url=self._ferry_url(), ferry_token=token.secret, timeout_s=p.timeout_s),
                on_steps=on_steps)
        except Exception as e:  # noqa: BLE001 - no answer: timeout, memory, crash
            outcome = {"state": "failed", "steps": [], "failed_step": None,
                       "error": f"the run's process gave no answer: {type(e).__name__}: "
                                f"{str(e)[:500]}"}
        finally:
            self._identity.revoke_token(token.id)
        for s in outcome.get("steps", []):
            ctx.log(f"step {s['name']}: {s['state']} after {s.get('attempts', 1)} attempt(s), "
                    f"{s.get('duration_s', 0):.2f}s" + (f": {s['error']}" if s.get("error")
                                                         else ""))
        ctx.step("recording the run", 90)
        outcome.update(self._links(run.actor, token.id, started))
        outcome["mlflow_run_id"] = self._share(p, run, outcome)
        state = RunState.succeeded if outcome.get("state") == "succeeded" else RunState.failed
        self._store.update_run(run.id, state=state.value, outcome=outcome, finished_at=_now())
        summary = {"run": run.id, "state": state.value, "registered": outcome["registered"],
                   "evaluations": outcome["evaluations"], "canary": outcome["canary"],
                   "mlflow_run_id": outcome["mlflow_run_id"]}
        if state is RunState.failed:
            raise PipelineFailed(f"pipeline {p.name} run {run.id} failed: "
                                 f"{outcome.get('error')}",
                                 details={**summary, "step": outcome.get("failed_step"),
                                          "error": outcome.get("error")})
        ctx.step(f"{p.name} run {run.id} succeeded", 100)
        return summary

    def _acting_user(self, p: PipelineRecord, run: PipelineRunRecord,
                     ) -> tuple[str, str | None]:
        """Whom ``run`` acts as, now that it starts, and why it may not start (None: it
        may). By hand: who started it, unless another user registered the pipeline since
        (the run would execute code its starter never chose). On a schedule or an alert:
        the pipeline's last editor. Either way that user must still exist, be enabled and
        be a deployer of the pipeline's team (``run_pipeline``) right now."""
        editor = p.updated_by or p.created_by
        manual = run.trigger == Trigger.manual.value
        actor = run.actor if manual else editor
        if manual and run.revision != p.revision and editor != run.actor:
            return actor, (f"{editor!r} registered the pipeline again (revision {p.revision}) "
                           f"after {run.actor!r} started this run of revision "
                           f"{run.revision}; start it again to run the new revision")
        who = self._access.principal_of(actor)
        role = "who started it" if manual else "who last registered the pipeline"
        if who is None:
            return actor, (f"the run acts as {actor!r} ({role}), and that user no longer "
                           f"exists or is disabled; a deployer of team {p.team!r} takes the "
                           "pipeline over by registering it again (`ferry pipelines "
                           "register`)")
        try:
            self._policy.require(who, "run_pipeline", resource=resource("pipeline", p.name),
                                 team=p.team)
        except Forbidden as e:
            return actor, (f"the run acts as {actor!r} ({role}): {e.message} Or a deployer "
                           f"of team {p.team!r} takes the pipeline over by registering it "
                           "again")
        return actor, None

    def _links(self, user: str, token_id: str, since: datetime) -> dict[str, Any]:
        """What the run's token did, from the audit log."""
        registered: list[str] = []
        evaluations: list[str] = []
        canary: str | None = None
        events = self._identity.audit_events(actor=user, limit=1000)
        for e in reversed(events):
            if e.details.get("token") != token_id or e.at < since - timedelta(seconds=5):
                continue
            kind = e.resource.partition("/")[2]
            if e.action == "create_model_version":
                registered.append(f"{kind}/{e.details.get('version')}")
            elif e.action == "evaluate" and e.outcome in ("succeeded", "failed"):
                passed = e.details.get("passed")
                evaluations.append(f"{kind}/{e.details.get('version')}: " + (
                    "passed" if passed else "failed the gate" if passed is False
                    else e.outcome) + (f" (mlflow run {e.details['run_id']})"
                                       if e.details.get("run_id") else ""))
            elif e.action == "rollout" and e.outcome == "succeeded":
                canary = kind
        return {"registered": registered, "evaluations": evaluations, "canary": canary}

    def _share(self, p: PipelineRecord, run: PipelineRunRecord,
               outcome: dict[str, Any]) -> str | None:
        if self._run_log is None:
            return None
        metrics, result_params = _metrics_params(outcome.get("result"))
        for s in outcome.get("steps", []):
            metrics[f"step.{s['name']}.duration_s"] = float(s.get("duration_s") or 0.0)
        params = {**{f"param.{k}": v for k, v in run.params.items()}, **result_params,
                  "module": p.module, "trigger": run.trigger}
        tags = {"ferry.state": str(outcome.get("state")), "ferry.actor": run.actor,
                "ferry.code_version": str(outcome.get("code_version")),
                "ferry.data_digest": str(outcome.get("data_digest")),
                "ferry.registered": ",".join(outcome.get("registered", [])),
                "ferry.evaluations": "; ".join(outcome.get("evaluations", [])),
                "ferry.canary": str(outcome.get("canary") or ""),
                "ferry.failed_step": str(outcome.get("failed_step") or ""),
                "ferry.error": str(outcome.get("error") or "")[:1000]}
        code = str(outcome.get("code_version") or "")
        if code.startswith("git:"):
            tags["mlflow.source.git.commit"] = code[4:].split("+")[0]
        registered = []
        for ref in outcome.get("registered", []):
            model, _, version = ref.partition("/")
            if version.isdigit():
                registered.append((model, int(version)))
        try:
            return self._run_log.record(p.name, run.id, params=params, metrics=metrics,
                                        tags=tags, state=str(outcome.get("state")),
                                        outcome=outcome, registered=registered)
        except Exception:  # the run is recorded in Ferry's database all the same
            log.exception("%s run %s: recording it in MLflow failed", p.name, run.id)
            return None

    # -- feature views materialized on a schedule ---------------------------------------------
    def _schedule_public(self, r: FeatureScheduleRecord) -> MaterializationSchedulePublic:
        return MaterializationSchedulePublic(
            view=r.view, cron=r.cron, lookback_hours=r.lookback_hours, created_by=r.created_by,
            updated_at=r.updated_at, last_run_at=r.scheduled_at,
            next_run_at=_next_or_none(r.cron, r.scheduled_at))

    def _view_team(self, view: str, *, known: bool = True) -> str | None:
        """The team owning feature view ``view`` (its Feast tag ``team``; None: no team,
        so platform admins only). ``known``: an unknown view is a 404; else (a schedule
        whose view went away) it has no team."""
        views = {v.name: v for v in self._features.port.views()} if self._features else {}
        if view not in views:
            if known:
                raise FeatureNotFound(f"no feature view {view!r}; views: {sorted(views)}")
            return None
        team: str | None = getattr(views[view], "team", None)
        return team

    def schedule_materialization(self, view: str, body: MaterializationScheduleUpdate,
                                 who: Principal) -> MaterializationSchedulePublic:
        """Materialize ``view`` on ``body.cron`` (a job per due time, as the platform):
        deployers of the view's team."""
        res = f"{FEATURES}/{view}"
        self._policy.admit(who, "put_materialization_schedule", res)
        team = self._view_team(view)
        self._policy.require(who, "put_materialization_schedule", resource=res, team=team)
        next_after(body.cron, _now())  # a 400 naming a cron that never fires, before saving
        record = self._store.put_schedule(view, body.cron, body.lookback_hours, who.user)
        self._audit(who, "put_materialization_schedule", res, [team], "succeeded",
                    {"cron": body.cron})
        return self._schedule_public(record)

    def materialization_schedules(self) -> list[MaterializationSchedulePublic]:
        return [self._schedule_public(r) for r in self._store.schedules()]

    def delete_materialization_schedule(self, view: str, who: Principal) -> None:
        """Deployers of the view's team (a view gone from the repository: platform admins)."""
        res = f"{FEATURES}/{view}"
        self._policy.admit(who, "delete_materialization_schedule", res)
        team = self._view_team(view, known=False)
        self._policy.require(who, "delete_materialization_schedule", resource=res, team=team)
        if not self._store.delete_schedule(view):
            raise FeatureNotFound(f"feature view {view!r} has no schedule; list them with "
                                  "`ferry features schedules`")
        self._audit(who, "delete_materialization_schedule", res, [team], "succeeded")

    def _materialize_due(self, now: datetime) -> list[str]:
        if self._features is None:
            return []
        started = []
        for r in self._store.schedules():
            try:
                at = due(r.cron, r.scheduled_at or r.updated_at, now)
            except InvalidRequest:  # saved before crons were checked: skipped, never fatal
                log.warning("feature view %s: schedule %r never fires", r.view, r.cron)
                continue
            if at is None or not self._store.mark_materialized(r.view, at, r.scheduled_at):
                continue
            start = r.scheduled_at or at - timedelta(hours=r.lookback_hours)
            try:
                job = self._features.materialize(
                    MaterializeCreate(start=start, end=at, views=[r.view]), SYSTEM)
            except Conflict:  # another materialization holds the lock: the next tick retries
                self._store.mark_materialized(r.view, r.scheduled_at, at)  # unclaim
                continue
            started.append(job.id)
        return started

    # -- schedules and alerts -----------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[PipelineRunRecord]:
        """Start what is due: scheduled runs (once per due time across processes), and
        queued runs whose pipeline has none under way."""
        now = now or _now()
        started: list[PipelineRunRecord] = []
        with self._tick_lock:
            self._materialize_due(now)
            for p in self._store.pipelines():
                try:
                    run = self._tick_one(p, now)
                except Exception:  # one pipeline's fault never stops the others' schedules
                    log.exception("pipeline %s: its scheduled work failed to start", p.name)
                    continue
                if run is not None:
                    started.append(run)
        return started

    def _tick_one(self, p: PipelineRecord, now: datetime) -> PipelineRunRecord | None:
        started = None
        if p.schedule:
            last = p.scheduled_at or p.created_at
            at = due(p.schedule, last, now)
            if at is not None and self._store.mark_scheduled(p.name, at, p.scheduled_at):
                started = self._start(p, SYSTEM, Trigger.schedule,
                                      f"cron {p.schedule} at {at:%Y-%m-%d %H:%M}", {})
        runs = [self._settle(r) for r in self._active(p.name)]
        if any(r.state == RunState.running.value for r in runs):
            return started
        queued = [r for r in runs if r.state == RunState.queued.value and r.job_id is None]
        if queued:  # the oldest: however many runs came after it
            self._launch(p, queued[0], SYSTEM)
        return started

    def _active(self, name: str) -> list[PipelineRunRecord]:
        """``name``'s queued and running runs, oldest first (whatever the number of runs
        recorded since: a busy schedule's skipped runs never hide them)."""
        found = [r for state in ACTIVE for r in self._store.runs(
            name, state=state, limit=MAX_QUEUED_RUNS + 10, oldest_first=True)]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def _settle(self, r: PipelineRunRecord) -> PipelineRunRecord:
        """A run whose job ended without recording it (its control plane stopped): failed."""
        if r.state not in ACTIVE or r.job_id is None:
            return r
        job = self._jobs.store.get(r.job_id)
        if job is None or job.state not in ("succeeded", "failed"):
            return r
        if r.token_id:
            self._identity.revoke_token(r.token_id)
        error = (job.error or {}).get("message") or "its job ended without a record"
        return self._store.update_run(r.id, state=RunState.failed.value, finished_at=_now(),
                                      outcome={**(r.outcome or {}), "error": error}) or r

    def alert_hook(self, alert: AlertPublic, event: str) -> None:
        """The monitoring's alert hook: never fails the alert's bookkeeping."""
        try:
            self.on_alert(alert, event)
        except Exception:
            log.exception("starting the pipelines of alert %s failed", alert.id)

    def _covering_run(self, pipeline: str, alert: AlertPublic) -> PipelineRunRecord | None:
        """An active run that will see the data that raised ``alert``: one not started yet,
        or started after the alert opened (a burst of alerts is one retraining, not ten)."""
        for r in self._active(pipeline):
            if r.started_at is None or r.started_at >= alert.opened_at:
                return r
        return None

    def on_alert(self, alert: AlertPublic, event: str) -> list[PipelineRunRecord]:
        """Start the pipelines that listen to ``alert`` (``model:kind``) when it opens,
        unless a run under way or queued already covers it (:meth:`_covering_run`)."""
        if event != "opened":
            return []
        started = []
        for p in self._store.pipelines():
            if any(alert_matches(t, alert.model, alert.kind) for t in p.on_alert):
                covering = self._covering_run(p.name, alert)
                if covering is not None:  # one report opens an alert per drifted column
                    log.info("alert %s: pipeline %s's run %s already sees its data", alert.id,
                             p.name, covering.id)
                    continue
                started.append(self._start(
                    p, SYSTEM, Trigger.alert,
                    f"alert {alert.id} {alert.model}:{alert.kind} on {alert.deployment}",
                    {}))
        return started
