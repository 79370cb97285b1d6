from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from ferry_contract import (
    MAX_VERSION,
    NAME_PATTERN,
    TEAM_PATTERN,
    LoggedModelPublic,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
)
from ferry_server._limits import body_limit
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
def list_models(
    app: AppDep,
    q: Annotated[str | None, Query(max_length=100, description="names containing this")] = None,
    team: Annotated[str | None, Query(pattern=TEAM_PATTERN, description="owned by")] = None,
    after: Annotated[str | None, Query(pattern=NAME_PATTERN,
                                       description="page: models named after this")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="page size")] = None,
) -> Response:
    """Models by name. With any of ``q``, ``team``, ``after`` or ``limit``, one page of at
    most ``limit`` (default 100), and a ``Link: <...>; rel="next"`` header while more
    follow; without, every model."""
    if q is None and team is None and after is None and limit is None:
        return CatalogJSON(app.models.cached_list())
    size = limit or 100
    page = [m for m, _team in app.models.page(query=q, team=team, after=after, limit=size + 1)]
    response = CatalogJSON(page[:size])
    if len(page) > size:
        query = urlencode([(k, v) for k, v in (("q", q), ("team", team)) if v] +
                          [("after", page[size - 1]["name"]), ("limit", size)])
        response.headers["Link"] = f'</v1/models?{query}>; rel="next"'
    return response


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
def list_model_versions(
    name: ModelName, app: AppDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_VERSION,
                                        description="page: versions older than this")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="page size")] = None,
) -> Response:
    """Every version, oldest first; with ``before`` or ``limit``, one page of at most
    ``limit`` (default 100), newest first, and a ``Link: <...>; rel="next"`` header while
    older ones follow."""
    if before is None and limit is None:
        return CatalogJSON(app.models.cached_versions(name))
    size = limit or 100
    page = app.models.versions_page(name, before=before, limit=size + 1)
    response = CatalogJSON(page[:size])
    if len(page) > size:
        response.headers["Link"] = (f"</v1/models/{name}/versions?before="
                                    f"{page[size - 1]['version']}&limit={size}>; rel=\"next\"")
    return response


@router.post("/{name}/logged-models", response_model=LoggedModelPublic, status_code=201,
             openapi_extra=body_limit("max_model_mb"))
def upload_logged_model(
        name: ModelName, app: AppDep, who: PrincipalDep,
        archive: Annotated[UploadFile, File(description="tar.gz of the saved MLflow model "
                                                        "directory (MLmodel at its root)")],
        lineage: Annotated[str, Form(description="JSON of a LoggedModelCreate")],
) -> LoggedModelPublic:
    """Upload a saved model and its lineage; the control plane checks the archive (never
    loading the model) and logs it into the model's experiment. Register the returned
    ``model_uri`` with ``POST /v1/models/{name}/versions``. Its body limit is
    FERRY_MAX_MODEL_MB (multipart/form-data: ``archive`` and ``lineage``)."""
    return app.models.log_model(name, archive.file, lineage, who)


@router.post("/{name}/versions", response_model=ModelVersionPublic, status_code=201)
def create_model_version(name: ModelName, body: ModelVersionCreate, app: AppDep,
                         who: PrincipalDep) -> ModelVersionPublic:
    """Register a model logged through ``POST /v1/models/{name}/logged-models`` as a new
    version; any other ``model_uri`` is refused. The platform records the digest of its
    files and the lineage of its run. If the model has an evaluation set, the version is
    evaluated at once (a job)."""
    return app.models.register_version(name, body, who)


@router.get("/{name}/versions/{version}", response_model=ModelVersionPublic)
def get_model_version(name: ModelName, version: Version, app: AppDep) -> CatalogJSON:
    return CatalogJSON(app.models.cached_version(name, version))
