from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from ferry_contract import (
    MAX_VERSION,
    NAME_PATTERN,
    TEAM_PATTERN,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_server.deps import AppDep, PrincipalDep, get_principal
from ferry_server.routes._json import CatalogJSON

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(get_principal)])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]


class ModelUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(default="", max_length=5000)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN,
                             description="owning team of a new model (default: the caller's)")


# Reads come from the catalog (one indexed row; a version, once read, from memory); a
# catalog miss asks MLflow. Plain functions: FastAPI runs them off the event loop.
@router.get("", response_model=list[ModelPublic])
def list_models(app: AppDep) -> CatalogJSON:
    return CatalogJSON(app.models.cached_list())


@router.put("/{name}", response_model=ModelPublic)
def put_model(name: ModelName, app: AppDep, who: PrincipalDep,
              body: Annotated[ModelUpsert | None, Body()] = None) -> ModelPublic:
    """Create the model (its registry entry and experiment) if it does not exist; a new
    model is owned by ``team`` (default: the caller's one deployer team)."""
    return app.models.put(name, who, body.description if body else "",
                          body.team if body else None)


@router.get("/{name}", response_model=ModelPublic)
def get_model(name: ModelName, app: AppDep) -> CatalogJSON:
    return CatalogJSON(app.models.cached_get(name))


@router.get("/{name}/versions", response_model=list[ModelVersionPublic])
def list_model_versions(name: ModelName, app: AppDep) -> CatalogJSON:
    return CatalogJSON(app.models.cached_versions(name))


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate, app: AppDep,
                         who: PrincipalDep) -> ModelVersionPublic:
    """Register a logged MLflow model as a new version; the platform records its digest.
    If the model has an evaluation set, the version is evaluated at once (a job)."""
    return app.models.register_version(name, body, who)


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic)
def get_model_version(name: ModelName, version: Version, app: AppDep) -> CatalogJSON:
    return CatalogJSON(app.models.cached_version(name, version))
