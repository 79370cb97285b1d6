"""Continuous evaluation as the API changes it: evaluation sets, gates, evaluations, the
champion. The gate is also consulted by rollouts and promotions (:meth:`gate_plan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferry_contract import (
    EvalSetCreate,
    EvalSetPublic,
    EvaluationPublic,
    GateConfig,
    JobKind,
    ModelPublic,
    PlatformUnavailable,
)
from ferry_platform.access import AccessService, Principal
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._policy import Policy, resource
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.evaluation import EvaluationService
from ferry_platform.jobs import JobContext
from ferry_platform.store import JobRecord


@dataclass(frozen=True)
class GatePlan:
    """What a job must still do about the gate: nothing (passed, overridden, no gate), or
    evaluate the version first (no evaluation on the current set yet)."""

    service: EvaluationService | None
    model: str
    version: int
    against: int | None
    action: str
    evaluate: bool

    def check_in_job(self, ctx: JobContext) -> EvaluationPublic | None:
        if not self.evaluate or self.service is None:
            return None
        ctx.step(f"evaluating {self.model} v{self.version} against "
                 f"{f'v{self.against}' if self.against else 'the baseline'}", 2)
        found = self.service.evaluate(self.model, self.version, self.against)
        self.service.require_passed(self.model, self.version, found, self.action)
        return found


class Evaluations:
    def __init__(self, *, policy: Policy, access: AccessService, audit: Audit,
                 jobs: AuditedJobs, registry: CatalogRegistry,
                 service: EvaluationService | None) -> None:
        self._policy = policy
        self._access = access
        self._audit = audit
        self._jobs = jobs
        self._registry = registry
        self._service = service

    @property
    def service(self) -> EvaluationService:
        if self._service is None:
            raise PlatformUnavailable("this control plane has no evaluation service configured")
        return self._service

    def _authorize(self, action: str, model: str, who: Principal) -> str | None:
        team = self._access.model_team(model)
        self._registry.get_model(model)  # 404 for an unknown model
        self._policy.require(who, action, resource=resource("model", model), team=team)
        return team

    # -- evaluation sets ----------------------------------------------------------------
    def create_eval_set(self, model: str, body: EvalSetCreate, who: Principal) -> EvalSetPublic:
        team = self._authorize("create_eval_set", model, who)
        created = self.service.create_eval_set(model, body)
        self._audit(who, "create_eval_set", resource("model", model), [team], "succeeded",
                    {"version": created.version, "rows": created.rows, "digest": created.digest})
        return created

    def eval_sets(self, model: str) -> list[EvalSetPublic]:
        self._registry.get_model(model)
        return self.service.eval_sets(model)

    # -- the gate -----------------------------------------------------------------------
    def gate(self, model: str) -> GateConfig:
        self._registry.get_model(model)
        return self.service.gate_config(model)

    def set_gate(self, model: str, body: GateConfig, who: Principal) -> GateConfig:
        team = self._authorize("put_gate", model, who)
        before = self.service.gate_config(model)
        done = self.service.set_gate_config(model, body)
        self._audit(who, "put_gate", resource("model", model), [team], "succeeded",
                    {"from": before.model_dump(), "to": done.model_dump()})
        return done

    def gate_plan(self, model: str, version: int, who: Principal, reason: str | None,
                  action: str) -> GatePlan:
        """Before a job: refuse at once what is known to fail its gate; what the job must
        still evaluate. An override needs admin in the model's team, and is audited."""
        ev = self._service
        if ev is None:
            return GatePlan(None, model, version, None, action, evaluate=False)
        team = self._access.model_team(model)
        if reason:
            self._policy.require(who, "override_gate", resource=resource("model", model),
                                 team=team)
            self._audit(who, "gate.override", resource("model", model), [team], "accepted",
                        {"version": version, "action": action, "reason": reason})
            return GatePlan(ev, model, version, None, action, evaluate=False)
        ev.require_pinned(model, version, action)  # 422 naming how to create or pin a set
        champion = ev.champion(model)
        against = None if champion == version else champion
        found = ev.latest(model, version, against)
        if found is not None:
            ev.require_passed(model, version, found, action)
        return GatePlan(ev, model, version, against, action, evaluate=found is None)

    # -- evaluations --------------------------------------------------------------------
    def evaluate(self, model: str, version: int, against: int | None, who: Principal,
                 eval_set_version: int | None = None) -> JobRecord:
        """Evaluate ``version`` against ``against`` (default: the champion) on the gate's
        pinned evaluation set (or, for information only, ``eval_set_version``) as a job."""
        service = self.service
        self._registry.get_version(model, version)
        if against is not None:
            self._registry.get_version(model, against)
        self._authorize("create_evaluation", model, who)
        if not service.has_eval_set(model):
            service.eval_set_required(model)  # 404 naming how to create one
        return self._submit(model, version, against, who, on="request",
                            eval_set_version=eval_set_version)

    def evaluate_on_register(self, model: str, version: int,
                             who: Principal) -> JobRecord | None:
        """Every new version of a model whose gate pins an evaluation set is evaluated at
        once, against the champion and the baseline (a job; None if nothing is pinned)."""
        if self._service is None or self._service.pinned_eval_set(model) is None:
            return None
        return self._submit(model, version, None, who, on="register")

    def _submit(self, model: str, version: int, against: int | None, who: Principal,
                on: str, eval_set_version: int | None = None) -> JobRecord:
        service = self.service

        def run(ctx: JobContext) -> dict[str, Any]:
            return service.evaluate(model, version, against, ctx.step,
                                    eval_set_version).model_dump(mode="json")

        return self._jobs.submit(
            who, JobKind.evaluate, model, resource("model", model),
            [self._access.model_team(model)],
            {"version": version, "against": against, "on": on,
             "eval_set_version": eval_set_version}, run,
            summary=lambda r: {"passed": r.get("passed"), "run_id": r.get("run_id")})

    def evaluations(self, model: str, version: int | None) -> list[EvaluationPublic]:
        self._registry.get_model(model)
        return self.service.evaluations(model, version)

    def compare(self, model: str, base: int, candidate: int) -> EvaluationPublic:
        self._registry.get_version(model, base)
        self._registry.get_version(model, candidate)
        return self.service.compare(model, base, candidate)

    # -- the champion -------------------------------------------------------------------
    def set_champion(self, model: str, version: int, who: Principal,
                     reason: str | None = None) -> ModelPublic:
        """Move the champion alias, through the gate (evaluating now if needed)."""
        plan = self._champion_plan(model, version, who, reason)
        if plan.evaluate:
            found = self.service.evaluate(model, version, plan.against)
            self.service.require_passed(model, version, found, "become champion")
        return self.move_champion(model, version, who, reason)

    def _champion_plan(self, model: str, version: int, who: Principal,
                       reason: str | None) -> GatePlan:
        self._authorize("set_champion", model, who)
        self._registry.get_version(model, version)
        return self.gate_plan(model, version, who, reason, "become champion")

    def start_champion(self, model: str, version: int, who: Principal,
                       reason: str | None = None) -> JobRecord | None:
        """:meth:`set_champion` for a surface that shows live progress: refused at once if
        the caller may not or the gate's plan says no; when the gate must evaluate first,
        a job that evaluates (step by step) and then moves the alias only if it passed
        (None: moved already, no evaluation was needed)."""
        plan = self._champion_plan(model, version, who, reason)
        if not plan.evaluate:
            self.move_champion(model, version, who, reason)
            return None
        service = self.service

        def run(ctx: JobContext) -> dict[str, Any]:
            found = service.evaluate(model, version, plan.against, ctx.step)
            service.require_passed(model, version, found, "become champion")
            self.move_champion(model, version, who, reason)
            ctx.step(f"v{version} is now the champion of {model}", 100)
            return {"champion": version, **found.model_dump(mode="json")}

        return self._jobs.submit(
            who, JobKind.evaluate, model, resource("model", model),
            [self._access.model_team(model)],
            {"version": version, "against": plan.against, "on": "champion"}, run,
            summary=lambda r: {"passed": r.get("passed"), "champion": r.get("champion")})

    def move_champion(self, model: str, version: int, who: Principal, reason: str | None,
                      cause: str | None = None) -> ModelPublic:
        """Move the alias (the caller was authorized for the change that moves it)."""
        if self._service is None:
            return self._registry.get_model(model)
        before = self._service.champion(model)
        self._service.set_champion(model, version)
        self._audit(who, "champion", resource("model", model),
                    [self._access.model_team(model)], "succeeded",
                    {"from_version": before, "to_version": version, "reason": reason,
                     "cause": cause})
        return self._registry.refresh_model(model)

    def champion_follows_rollback(self, model: str, bad: int, back_to: int, who: Principal,
                                  ctx: JobContext, cause: str) -> None:
        """After a rollback from ``bad``: if ``bad`` is the champion, ``back_to`` becomes it
        again, when the caller may move the champion of that model (else it is left, and
        the job says so)."""
        if self._service is None or self._service.champion(model) != bad:
            return
        team = self._access.model_team(model)
        if not self._policy.may(who, "deployer", team):
            ctx.log(f"the champion of {model} stays v{bad}: {who.user!r} is not a deployer "
                    f"of its team {team!r}, so only the traffic was rolled back")
            return
        self.move_champion(model, back_to, who, None, cause)
