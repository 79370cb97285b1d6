from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from ferry_contract import (
    NAME_PATTERN,
    TEAM_PATTERN,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(get_principal)])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ModelUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(default="", max_length=5000)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN,
                             description="owning team of a new model (default: the caller's)")


@router.get("", response_model=list[ModelPublic])
def list_models(platform: PlatformDep) -> list[ModelPublic]:
    return platform.registry.list_models()


@router.put("/{name}", response_model=ModelPublic)
def put_model(name: ModelName, platform: PlatformDep, who: PrincipalDep,
              body: Annotated[ModelUpsert | None, Body()] = None) -> ModelPublic:
    """Create the model (its registry entry and experiment) if it does not exist; a new
    model is owned by ``team`` (default: the caller's one deployer team)."""
    team = platform.access.owning_team(who, name, body.team if body else None)
    platform.access.require(who, "deployer", team, f"change model {name!r}")
    model = platform.registry.ensure_model(name, body.description if body else "")
    platform.access.audit(who, "model.put", f"model/{name}", team)
    return model


@router.get("/{name}", response_model=ModelPublic)
def get_model(name: ModelName, platform: PlatformDep) -> ModelPublic:
    return platform.registry.get_model(name)


@router.get("/{name}/versions", response_model=list[ModelVersionPublic])
def list_model_versions(name: ModelName, platform: PlatformDep) -> list[ModelVersionPublic]:
    return platform.registry.list_versions(name)


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate,
                         platform: PlatformDep, who: PrincipalDep) -> ModelVersionPublic:
    """Register a logged MLflow model as a new version; the platform records its digest."""
    team = platform.access.owning_team(who, name)
    platform.access.require(who, "deployer", team, f"register versions of {name!r}")
    version = platform.registry.register_version(name, body)
    platform.access.audit(who, "model.register", f"model/{name}", team,
                          details={"version": version.version, "run_id": body.run_id,
                                   "model_digest": version.model_digest})
    return version


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic)
def get_model_version(name: ModelName, version: Version,
                      platform: PlatformDep) -> ModelVersionPublic:
    return platform.registry.get_version(name, version)
