from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import NAME_PATTERN, DeploymentCreate, DeploymentPublic, JobPublic, error_from_body
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
