from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ferry_contract import NAME_PATTERN, DeploymentCreate, DeploymentPublic
from ferry_server.deps import PlatformDep

router = APIRouter(prefix="/v1/deployments", tags=["deployments"])

DeploymentName = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.get("", response_model=list[DeploymentPublic])
def list_deployments(platform: PlatformDep) -> list[DeploymentPublic]:
    return platform.releases.list()


@router.post("", response_model=DeploymentPublic, status_code=201)
def create_deployment(body: DeploymentCreate, platform: PlatformDep) -> DeploymentPublic:
    """Deploy an exact model version. Waits until the release serves (or is refused)."""
    return platform.releases.deploy(body)


@router.get("/{name}", response_model=DeploymentPublic)
def get_deployment(name: DeploymentName, platform: PlatformDep) -> DeploymentPublic:
    return platform.releases.get(name)


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_deployment(name: DeploymentName, platform: PlatformDep) -> Response:
    platform.releases.undeploy(name)
    return Response(status_code=204)
