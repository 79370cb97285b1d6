from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import (
    NAME_PATTERN,
    DeploymentAccessUpdate,
    DeploymentCreate,
    DeploymentPublic,
    JobPublic,
    RolloutAction,
    RolloutCreate,
    RolloutUpdate,
    ShadowReportPublic,
)
from ferry_server.deps import AppDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import accepted

router = APIRouter(prefix="/v1/deployments", tags=["deployments"],
                   dependencies=[Depends(get_principal)])

DeploymentName = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.get("", response_model=list[DeploymentPublic])
def list_deployments(app: AppDep) -> list[DeploymentPublic]:
    return app.deployments.list_all()


@router.post("", response_model=JobPublic, status_code=202)
def create_deployment(body: DeploymentCreate, app: AppDep, who: PrincipalDep,
                      response: Response) -> JobPublic:
    """Start deploying an exact model version: answers at once with the deploy job (follow
    it at ``Location``). An unknown model or version is refused here, before any job."""
    return accepted(app.deployments.create(body, who), response)


@router.get("/{name}", response_model=DeploymentPublic)
def get_deployment(name: DeploymentName, app: AppDep) -> DeploymentPublic:
    return app.deployments.get(name)


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_deployment(name: DeploymentName, app: AppDep, who: PrincipalDep) -> Response:
    """Undeploy (a short job, recorded like a deploy); answers when it is done."""
    app.deployments.delete(name, who)
    return Response(status_code=204)


@router.patch("/{name}/access", response_model=DeploymentPublic)
def update_deployment_access(name: DeploymentName, body: DeploymentAccessUpdate, app: AppDep,
                             who: PrincipalDep) -> DeploymentPublic:
    """Who may predict: ``anonymous_predict`` lets requests without a token through (team
    admins; shown in the deployment's status and audited)."""
    return app.deployments.set_access(name, body.anonymous_predict, who)


@router.post("/{name}/rollout", response_model=JobPublic, status_code=202)
def start_rollout(name: DeploymentName, body: RolloutCreate, app: AppDep, who: PrincipalDep,
                  response: Response) -> JobPublic:
    """Start ``version`` beside the serving release: ``canary`` (``weight`` percent of
    requests), ``ab`` (the same share, sticky per value of ``sticky_key``) or ``shadow`` (a
    copy of every request; its answers are compared, never returned). The candidate gets
    traffic only once healthy. 409 if a rollout is under way."""
    return accepted(app.deployments.rollout(name, body, who), response)


@router.patch("/{name}/rollout", response_model=JobPublic, status_code=202)
def update_rollout(name: DeploymentName, body: RolloutUpdate, app: AppDep, who: PrincipalDep,
                   response: Response) -> JobPublic:
    """Change the candidate's share of traffic; running replicas are not restarted."""
    return accepted(app.deployments.set_weight(name, body.weight, who), response)


@router.post("/{name}/promote", response_model=JobPublic, status_code=202)
def promote_rollout(name: DeploymentName, app: AppDep, who: PrincipalDep, response: Response,
                    body: RolloutAction | None = None) -> JobPublic:
    """The candidate takes all traffic; the old release stays up, without traffic, for
    rollback."""
    return accepted(app.deployments.promote(name, who, body.reason if body else None), response)


@router.post("/{name}/abort", response_model=JobPublic, status_code=202)
def abort_rollout(name: DeploymentName, app: AppDep, who: PrincipalDep,
                  response: Response) -> JobPublic:
    """Stop the candidate; the serving release takes all traffic again."""
    return accepted(app.deployments.abort(name, who), response)


@router.post("/{name}/rollback", response_model=JobPublic, status_code=202)
def rollback_deployment(name: DeploymentName, app: AppDep, who: PrincipalDep,
                        response: Response) -> JobPublic:
    """Back to the previous release at once (during a rollout: abort it). 409 if there is
    no previous release."""
    return accepted(app.deployments.rollback(name, who), response)


@router.get("/{name}/shadow", response_model=ShadowReportPublic)
def shadow_report(name: DeploymentName, app: AppDep) -> ShadowReportPublic:
    """How a shadow candidate's answers compare with those clients got."""
    return app.deployments.shadow_report(name)
