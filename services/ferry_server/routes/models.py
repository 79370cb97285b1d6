from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict

from ferry_contract import (
    NAME_PATTERN,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_server.deps import PlatformDep

router = APIRouter(prefix="/v1/models", tags=["models"])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ModelUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""


@router.get("", response_model=list[ModelPublic])
def list_models(platform: PlatformDep) -> list[ModelPublic]:
    return platform.registry.list_models()


@router.put("/{name}", response_model=ModelPublic)
def put_model(name: ModelName, platform: PlatformDep,
              body: Annotated[ModelUpsert | None, Body()] = None) -> ModelPublic:
    """Create the model (its registry entry and experiment) if it does not exist."""
    return platform.registry.ensure_model(name, body.description if body else "")


@router.get("/{name}", response_model=ModelPublic)
def get_model(name: ModelName, platform: PlatformDep) -> ModelPublic:
    return platform.registry.get_model(name)


@router.get("/{name}/versions", response_model=list[ModelVersionPublic])
def list_model_versions(name: ModelName, platform: PlatformDep) -> list[ModelVersionPublic]:
    return platform.registry.list_versions(name)


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate,
                         platform: PlatformDep) -> ModelVersionPublic:
    """Register a logged MLflow model as a new version; the platform records its digest."""
    return platform.registry.register_version(name, body)


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic)
def get_model_version(name: ModelName, version: Version,
                      platform: PlatformDep) -> ModelVersionPublic:
    return platform.registry.get_version(name, version)
