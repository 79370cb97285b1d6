"""Releases: the immutable units deploys are made of (model version + code + pinned deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from ferry_contract import NAME_PATTERN, ReleasePublic
from ferry_server.deps import AppDep, get_principal

router = APIRouter(prefix="/v1/releases", tags=["releases"],
                   dependencies=[Depends(get_principal)])


@router.get("", response_model=list[ReleasePublic])
def list_releases(app: AppDep,
                  model: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ReleasePublic]:
    """Newest first; built once per (model version, service code, requirements)."""
    return [m.to_public() for m in app.deployments.releases(model, limit)]


@router.get("/{release_id}", response_model=ReleasePublic)
def get_release(release_id: Annotated[str, Path(max_length=200, pattern=r"^[a-z0-9-]+$")],
                app: AppDep) -> ReleasePublic:
    return app.deployments.release(release_id).to_public()
