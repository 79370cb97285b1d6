from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ferry_contract import (
    MAX_VERSION,
    NAME_PATTERN,
    TEAM_PATTERN,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(get_principal)])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]


class ModelUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(default="", max_length=5000)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN,
                             description="owning team of a new model (default: the caller's)")


def _json(payload: Any) -> Response:
    """The catalog's JSON as stored (validated when written): no re-validation per read."""
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")


# Reads are async and served from the catalog in the event loop (one indexed row, well
# under a millisecond); a catalog miss asks MLflow on a worker thread.
@router.get("", response_model=list[ModelPublic])
async def list_models(platform: PlatformDep) -> Response:
    return _json(platform.registry.cached_models())


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
async def get_model(name: ModelName, platform: PlatformDep) -> Response:
    found = platform.registry.cached_model(name)
    if found is None:
        found = (await run_in_threadpool(platform.registry.get_model, name)).model_dump(
            mode="json")
    return _json(found)


@router.get("/{name}/versions", response_model=list[ModelVersionPublic])
async def list_model_versions(name: ModelName, platform: PlatformDep) -> Response:
    found = platform.registry.cached_versions(name)
    if found is None:
        found = [v.model_dump(mode="json") for v in
                 await run_in_threadpool(platform.registry.list_versions, name)]
    return _json(found)


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate,
                         platform: PlatformDep, who: PrincipalDep) -> ModelVersionPublic:
    """Register a logged MLflow model as a new version; the platform records its digest.
    If the model has an evaluation set, the version is evaluated at once (a job)."""
    team = platform.access.owning_team(who, name)
    platform.access.require(who, "deployer", team, f"register versions of {name!r}")
    version = platform.registry.register_version(name, body)
    platform.access.audit(who, "model.register", f"model/{name}", team,
                          details={"version": version.version, "run_id": body.run_id,
                                   "model_digest": version.model_digest})
    platform.evaluate_on_register(name, version.version, who)
    return version


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic)
async def get_model_version(name: ModelName, version: Version, platform: PlatformDep) -> Response:
    found = platform.registry.cached_version(name, version)
    if found is None:
        found = (await run_in_threadpool(platform.registry.get_version, name, version)
                 ).model_dump(mode="json")
    return _json(found)
