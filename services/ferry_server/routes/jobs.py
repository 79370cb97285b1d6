"""Jobs: long operations (deploy, undeploy, materialize, reconcile), their progress and logs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from ferry_contract import JobLogLine, JobNotFound, JobPublic, JobState
from ferry_server.deps import PlatformDep, get_principal

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(get_principal)])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="job id")]


def job_public(record: Any) -> JobPublic:
    # the record's lease bookkeeping (owner process, lease end) stays internal
    return JobPublic.model_validate({k: v for k, v in asdict(record).items()
                                     if k in JobPublic.model_fields})


def get_job_record(platform: Any, job_id: str) -> Any:
    record = platform.job_store.get(job_id)
    if record is None:
        raise JobNotFound(f"no job {job_id!r}; list recent jobs with `ferry jobs` "
                          "(GET /v1/jobs).")
    return record


@router.get("", response_model=list[JobPublic])
def list_jobs(platform: PlatformDep,
              kind: Annotated[str | None, Query(max_length=30)] = None,
              target: Annotated[str | None, Query(max_length=200)] = None,
              state: JobState | None = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[JobPublic]:
    """Newest first."""
    return [job_public(r) for r in platform.job_store.find(
        kind=kind, target=target, state=state.value if state else None, limit=limit)]


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: JobId, platform: PlatformDep) -> JobPublic:
    return job_public(get_job_record(platform, job_id))


@router.get("/{job_id}/logs", response_model=list[JobLogLine])
def get_job_logs(job_id: JobId, platform: PlatformDep,
                 after: Annotated[int, Query(ge=0, le=2**31 - 1,
                                             description="only lines after this seq")] = 0,
                 ) -> list[JobLogLine]:
    get_job_record(platform, job_id)
    return [JobLogLine(seq=seq, at=at, line=line)
            for seq, at, line in platform.job_store.logs(job_id, after)]
