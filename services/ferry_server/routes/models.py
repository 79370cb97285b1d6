from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Path, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferry_contract import (
    NAME_PATTERN,
    TEAM_PATTERN,
    InvalidRequest,
    LoggedModelCreate,
    LoggedModelPublic,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_server._limits import body_limit
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(get_principal)])

ModelName = Annotated[str, Path(pattern=NAME_PATTERN, description="registered model name")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]


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


def _lineage(text: str) -> LoggedModelCreate:
    try:
        return LoggedModelCreate.model_validate_json(text)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'lineage'}: {err['msg']}"
                             for err in e.errors(include_url=False, include_input=False)[:10])
        raise InvalidRequest(f"the lineage part is not valid: {problems}",
                             details={"field": "lineage"}) from None


@router.post("/{name}/logged-models", response_model=LoggedModelPublic, status_code=201,
             openapi_extra=body_limit("max_model_mb"))
def upload_logged_model(
        name: ModelName, platform: PlatformDep, who: PrincipalDep,
        archive: Annotated[UploadFile, File(description="tar.gz of the saved MLflow model "
                                                        "directory (MLmodel at its root)")],
        lineage: Annotated[str, Form(description="JSON of a LoggedModelCreate")],
) -> LoggedModelPublic:
    """Upload a saved model and its lineage; the control plane checks the archive (never
    loading the model) and logs it into the model's experiment. Register the returned
    ``model_uri`` with ``POST /v1/models/{name}/versions``. Its body limit is
    FERRY_MAX_MODEL_MB (multipart/form-data: ``archive`` and ``lineage``)."""
    platform.registry.get_model(name)  # 404 before anything is claimed
    team = platform.access.owning_team(who, name)
    platform.access.require(who, "deployer", team, f"log models of {name!r}")
    logged = platform.log_model(name, archive.file, _lineage(lineage), who.user)
    platform.access.audit(who, "model.log", f"model/{name}", team,
                          details={"model_uri": logged.model_uri, "run_id": logged.run_id})
    return logged


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate,
                         platform: PlatformDep, who: PrincipalDep) -> ModelVersionPublic:
    """Register a model logged through ``POST /v1/models/{name}/logged-models`` as a new
    version; any other ``model_uri`` is refused. The platform records the digest of its
    files and the lineage of its run. If the model has an evaluation set, the version is
    evaluated at once (a job)."""
    team = platform.access.owning_team(who, name)
    platform.access.require(who, "deployer", team, f"register versions of {name!r}")
    version = platform.registry.register_version(name, body)
    platform.access.audit(who, "model.register", f"model/{name}", team,
                          details={"version": version.version, "run_id": version.run_id,
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
