"""Releases: the immutable units deploys are made of (model version + code + pinned deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from ferry_contract import NAME_PATTERN, NotFound, ReleasePublic
from ferry_server.deps import PlatformDep, get_principal

router = APIRouter(prefix="/v1/releases", tags=["releases"],
                   dependencies=[Depends(get_principal)])


@router.get("", response_model=list[ReleasePublic])
def list_releases(platform: PlatformDep,
                  model: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ReleasePublic]:
    """Newest first; built once per (model version, service code, requirements)."""
    return [m.to_public() for m in platform.store.list_releases(model, limit)]


@router.get("/{release_id}", response_model=ReleasePublic)
def get_release(release_id: Annotated[str, Path(max_length=200, pattern=r"^[a-z0-9-]+$")],
                platform: PlatformDep) -> ReleasePublic:
    manifest = platform.store.get_release(release_id)
    if manifest is None:
        raise NotFound(f"no release {release_id!r}; list them with GET /v1/releases")
    return manifest.to_public()
