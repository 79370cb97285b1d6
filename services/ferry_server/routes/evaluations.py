"""Continuous evaluation: evaluation sets, evaluations, comparisons, gates, the champion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ferry_contract import (
    MAX_VERSION,
    NAME_PATTERN,
    ChampionUpdate,
    EvalSetCreate,
    EvalSetPublic,
    EvaluationCreate,
    EvaluationPublic,
    GateConfig,
    JobPublic,
    ModelPublic,
)
from ferry_server.deps import AppDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import accepted

router = APIRouter(prefix="/v1/models", tags=["evaluations"],
                   dependencies=[Depends(get_principal)])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]


@router.post("/{name}/eval-sets", response_model=EvalSetPublic, status_code=201)
def create_eval_set(name: ModelName, body: EvalSetCreate, app: AppDep,
                    who: PrincipalDep) -> EvalSetPublic:
    """Upload a new version of the model's evaluation set (labelled rows, kept in MLflow).
    The gate keeps using the version pinned in it until an admin moves the pin (PUT gate)."""
    return app.evaluations.create_eval_set(name, body, who)


@router.get("/{name}/eval-sets", response_model=list[EvalSetPublic])
def list_eval_sets(name: ModelName, app: AppDep) -> list[EvalSetPublic]:
    return app.evaluations.eval_sets(name)


@router.get("/{name}/gate", response_model=GateConfig)
def get_gate(name: ModelName, app: AppDep) -> GateConfig:
    """When a version may become champion (the defaults unless set)."""
    return app.evaluations.gate(name)


@router.put("/{name}/gate", response_model=GateConfig)
def put_gate(name: ModelName, body: GateConfig, app: AppDep, who: PrincipalDep) -> GateConfig:
    """Set the model's gate: primary metric, tolerances, baseline margin, guardrails, and
    the evaluation set it uses (the pin). Admins of the model's team only."""
    return app.evaluations.set_gate(name, body, who)


@router.post("/{name}/evaluations", response_model=JobPublic, status_code=202)
def create_evaluation(name: ModelName, body: EvaluationCreate, app: AppDep, who: PrincipalDep,
                      response: Response) -> JobPublic:
    """Evaluate ``version`` against the champion (or ``against``) and a trivial baseline on
    the gate's evaluation set (or ``eval_set_version``), as a job; the result is stored in
    MLflow. The models run in a sandbox, never in the control plane."""
    return accepted(app.evaluations.evaluate(name, body.version, body.against, who,
                                             body.eval_set_version), response)


@router.get("/{name}/evaluations", response_model=list[EvaluationPublic])
def list_evaluations(name: ModelName, app: AppDep,
                     version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
                     ) -> list[EvaluationPublic]:
    """Stored evaluations, newest first."""
    return app.evaluations.evaluations(name, version)


@router.get("/{name}/compare", response_model=EvaluationPublic)
def compare_versions(name: ModelName, app: AppDep,
                     base: Annotated[int, Query(ge=1, le=MAX_VERSION,
                                                description="reference version")],
                     candidate: Annotated[int, Query(ge=1, le=MAX_VERSION)]) -> EvaluationPublic:
    """``candidate`` vs ``base`` vs the baseline on the current evaluation set, with every
    gate check (404 naming the command if that evaluation was not run yet)."""
    return app.evaluations.compare(name, base, candidate)


@router.put("/{name}/champion", response_model=ModelPublic)
def set_champion(name: ModelName, body: ChampionUpdate, app: AppDep,
                 who: PrincipalDep) -> ModelPublic:
    """Make ``version`` the champion, only through its gate (evaluating it now if needed);
    admins may override a failed gate with a reason, which is audited."""
    return app.evaluations.set_champion(name, body.version, who, body.reason)
