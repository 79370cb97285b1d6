"""Continuous evaluation: evaluation sets, evaluations, comparisons, gates, the champion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ferry_contract import (
    NAME_PATTERN,
    ChampionUpdate,
    EvalSetCreate,
    EvalSetPublic,
    EvaluationCreate,
    EvaluationPublic,
    GateConfig,
    JobPublic,
    ModelPublic,
    PlatformUnavailable,
)
from ferry_platform import Platform
from ferry_platform.evaluation import EvaluationService
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import job_public

router = APIRouter(prefix="/v1/models", tags=["evaluations"],
                   dependencies=[Depends(get_principal)])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]


def _service(platform: Platform) -> EvaluationService:
    if platform.evaluations is None:
        raise PlatformUnavailable("this control plane has no evaluation service configured")
    return platform.evaluations


@router.post("/{name}/eval-sets", response_model=EvalSetPublic, status_code=201)
def create_eval_set(name: ModelName, body: EvalSetCreate, platform: PlatformDep,
                    who: PrincipalDep) -> EvalSetPublic:
    """Upload a new version of the model's evaluation set (labelled rows, kept in MLflow).
    The gate keeps using the version pinned in it until an admin moves the pin (PUT gate)."""
    team = platform.access.model_team(name)
    platform.registry.get_model(name)
    platform.access.require(who, "deployer", team, f"set the evaluation set of {name!r}")
    created = _service(platform).create_eval_set(name, body)
    platform.access.audit(who, "eval_set", f"model/{name}", team, "succeeded",
                          {"version": created.version, "rows": created.rows,
                           "digest": created.digest})
    return created


@router.get("/{name}/eval-sets", response_model=list[EvalSetPublic])
def list_eval_sets(name: ModelName, platform: PlatformDep) -> list[EvalSetPublic]:
    platform.registry.get_model(name)
    return _service(platform).eval_sets(name)


@router.get("/{name}/gate", response_model=GateConfig)
def get_gate(name: ModelName, platform: PlatformDep) -> GateConfig:
    """When a version may become champion (the defaults unless set)."""
    platform.registry.get_model(name)
    return _service(platform).gate_config(name)


@router.put("/{name}/gate", response_model=GateConfig)
def put_gate(name: ModelName, body: GateConfig, platform: PlatformDep,
             who: PrincipalDep) -> GateConfig:
    """Set the model's gate: primary metric, tolerances, baseline margin, guardrails, and
    the evaluation set it uses (the pin). Admins of the model's team only."""
    team = platform.access.model_team(name)
    platform.registry.get_model(name)
    platform.access.require(who, "admin", team, f"change the gate of {name!r}")
    before = _service(platform).gate_config(name)
    done = _service(platform).set_gate_config(name, body)
    platform.access.audit(who, "gate", f"model/{name}", team, "succeeded",
                          {"from": before.model_dump(), "to": done.model_dump()})
    return done


@router.post("/{name}/evaluations", response_model=JobPublic, status_code=202)
def create_evaluation(name: ModelName, body: EvaluationCreate, platform: PlatformDep,
                      who: PrincipalDep, response: Response) -> JobPublic:
    """Evaluate ``version`` against the champion (or ``against``) and a trivial baseline on
    the gate's evaluation set (or ``eval_set_version``), as a job; the result is stored in
    MLflow. The models run in a sandbox, never in the control plane."""
    service = _service(platform)
    team = platform.access.model_team(name)
    platform.registry.get_version(name, body.version)
    if body.against is not None:
        platform.registry.get_version(name, body.against)
    platform.access.require(who, "deployer", team, f"evaluate {name!r}")
    if not service.has_eval_set(name):
        service.eval_set_required(name)  # 404 naming how to create one
    job = platform.submit_evaluation(name, body.version, body.against, who,
                                     eval_set_version=body.eval_set_version)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_public(job)


@router.get("/{name}/evaluations", response_model=list[EvaluationPublic])
def list_evaluations(name: ModelName, platform: PlatformDep,
                     version: Annotated[int | None, Query(ge=1)] = None) -> list[EvaluationPublic]:
    """Stored evaluations, newest first."""
    platform.registry.get_model(name)
    return _service(platform).evaluations(name, version)


@router.get("/{name}/compare", response_model=EvaluationPublic)
def compare_versions(name: ModelName, platform: PlatformDep,
                     base: Annotated[int, Query(ge=1, description="reference version")],
                     candidate: Annotated[int, Query(ge=1)]) -> EvaluationPublic:
    """``candidate`` vs ``base`` vs the baseline on the current evaluation set, with every
    gate check (404 naming the command if that evaluation was not run yet)."""
    platform.registry.get_version(name, base)
    platform.registry.get_version(name, candidate)
    return _service(platform).compare(name, base, candidate)


@router.put("/{name}/champion", response_model=ModelPublic)
def set_champion(name: ModelName, body: ChampionUpdate, platform: PlatformDep,
                 who: PrincipalDep) -> ModelPublic:
    """Make ``version`` the champion, only through its gate (evaluating it now if needed);
    admins may override a failed gate with a reason, which is audited."""
    return platform.set_champion(name, body.version, who, body.reason)
