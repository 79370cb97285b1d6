"""Batch scoring jobs: a whole table scored by a deployment's release on Ray Data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ferry_contract import BatchRootsPublic, BatchScoreCreate, JobPublic, PlatformUnavailable
from ferry_platform.application import Application
from ferry_platform.application._batch import Batch
from ferry_server.deps import AppDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import accepted, job_public

router = APIRouter(prefix="/v1/batch-jobs", tags=["batch"],
                   dependencies=[Depends(get_principal)])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="job id")]


def _batch(app: Application) -> Batch:
    if app.batch is None:
        raise PlatformUnavailable("batch scoring is not configured in this control plane")
    return app.batch


@router.post("", response_model=JobPublic, status_code=202)
def create_batch_job(body: BatchScoreCreate, app: AppDep, who: PrincipalDep,
                     response: Response) -> JobPublic:
    """Start scoring ``source`` with the deployment's serving release into Parquet under
    ``dest`` (deployers of the model's team). The release, the input's columns and types
    and the output location are checked first: a column the model lacks or needs is a 422
    naming it, and nothing is scored. Answers with the job (progress in rows)."""
    return accepted(_batch(app).score(body, who), response)


@router.get("", response_model=list[JobPublic])
def list_batch_jobs(app: AppDep, who: PrincipalDep,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    before: Annotated[str | None, Query(
                        pattern=r"^[0-9a-f]{16}$",
                        description="page: jobs older than this one (the last id seen)")]
                    = None) -> list[JobPublic]:
    """Batch scoring jobs of the caller's teams (platform admins: all), newest first; the
    next page with ``before`` (the last job id seen)."""
    return [job_public(r) for r in _batch(app).list(who, limit, before)]


@router.get("/roots", response_model=list[BatchRootsPublic])
def list_batch_roots(app: AppDep, who: PrincipalDep) -> list[BatchRootsPublic]:
    """Where your teams' batch jobs may read and write: per team you deploy for (admins:
    every team), its data roots. ``source`` and ``dest`` must lie under one of them; a
    relative location is taken under the first."""
    return [BatchRootsPublic(team=t, roots=r) for t, r in _batch(app).roots(who)]


@router.get("/{job_id}", response_model=JobPublic)
def get_batch_job(job_id: JobId, app: AppDep, who: PrincipalDep) -> JobPublic:
    """One batch job of the caller's teams (another team's is a 404, as a missing one);
    its result holds the rows scored and the lineage written."""
    return job_public(_batch(app).get(job_id, who))
