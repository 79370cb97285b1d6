from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import (
    NAME_PATTERN,
    DeploymentCreate,
    DeploymentPublic,
    JobPublic,
    RolloutAction,
    RolloutCreate,
    RolloutUpdate,
    ShadowReportPublic,
    error_from_body,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import job_public

router = APIRouter(prefix="/v1/deployments", tags=["deployments"],
                   dependencies=[Depends(get_principal)])

DeploymentName = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.get("", response_model=list[DeploymentPublic])
def list_deployments(platform: PlatformDep) -> list[DeploymentPublic]:
    return platform.releases.list()


@router.post("", response_model=JobPublic, status_code=202)
def create_deployment(body: DeploymentCreate, platform: PlatformDep, who: PrincipalDep,
                      response: Response) -> JobPublic:
    """Start deploying an exact model version: answers at once with the deploy job (follow
    it at ``Location``). An unknown model or version is refused here, before any job."""
    job = job_public(platform.submit_deploy(body, who))
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("/{name}", response_model=DeploymentPublic)
def get_deployment(name: DeploymentName, platform: PlatformDep) -> DeploymentPublic:
    return platform.releases.get(name)


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_deployment(name: DeploymentName, platform: PlatformDep, who: PrincipalDep) -> Response:
    """Undeploy (a short job, recorded like a deploy); answers when it is done."""
    job = platform.undeploy(name, who)
    if job.error:
        raise error_from_body({"error": job.error}, status=int(job.error.get("status", 500)))
    return Response(status_code=204)


def _accepted(job: JobPublic, response: Response) -> JobPublic:
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.post("/{name}/rollout", response_model=JobPublic, status_code=202)
def start_rollout(name: DeploymentName, body: RolloutCreate, platform: PlatformDep,
                  who: PrincipalDep, response: Response) -> JobPublic:
    """Start ``version`` beside the serving release: ``canary`` (``weight`` percent of
    requests), ``ab`` (the same share, sticky per value of ``sticky_key``) or ``shadow`` (a
    copy of every request; its answers are compared, never returned). The candidate gets
    traffic only once healthy. 409 if a rollout is under way."""
    return _accepted(job_public(platform.submit_rollout(name, body, who)), response)


@router.patch("/{name}/rollout", response_model=JobPublic, status_code=202)
def update_rollout(name: DeploymentName, body: RolloutUpdate, platform: PlatformDep,
                   who: PrincipalDep, response: Response) -> JobPublic:
    """Change the candidate's share of traffic; running replicas are not restarted."""
    return _accepted(job_public(platform.submit_weight(name, body.weight, who)), response)


@router.post("/{name}/promote", response_model=JobPublic, status_code=202)
def promote_rollout(name: DeploymentName, platform: PlatformDep, who: PrincipalDep,
                    response: Response, body: RolloutAction | None = None) -> JobPublic:
    """The candidate takes all traffic; the old release stays up, without traffic, for
    rollback."""
    reason = body.reason if body else None
    return _accepted(job_public(platform.submit_promote(name, who, reason)), response)


@router.post("/{name}/abort", response_model=JobPublic, status_code=202)
def abort_rollout(name: DeploymentName, platform: PlatformDep, who: PrincipalDep,
                  response: Response) -> JobPublic:
    """Stop the candidate; the serving release takes all traffic again."""
    return _accepted(job_public(platform.submit_abort(name, who)), response)


@router.post("/{name}/rollback", response_model=JobPublic, status_code=202)
def rollback_deployment(name: DeploymentName, platform: PlatformDep, who: PrincipalDep,
                        response: Response) -> JobPublic:
    """Back to the previous release at once (during a rollout: abort it). 409 if there is
    no previous release."""
    return _accepted(job_public(platform.submit_rollback(name, who)), response)


@router.get("/{name}/shadow", response_model=ShadowReportPublic)
def shadow_report(name: DeploymentName, platform: PlatformDep) -> ShadowReportPublic:
    """How a shadow candidate's answers compare with those clients got."""
    return platform.shadow_report(name)
