"""Jobs: long operations (deploy, rollouts, evaluations, materialize, ...), their progress
and logs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ferry_contract import JobKind, JobLogLine, JobPublic, JobState
from ferry_platform.store import JobRecord
from ferry_server.deps import AppDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(get_principal)])

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="job id")]


def job_public(record: JobRecord) -> JobPublic:
    # the record's lease bookkeeping (owner process, lease end) stays internal
    return JobPublic.model_validate({k: v for k, v in asdict(record).items()
                                     if k in JobPublic.model_fields})


def accepted(record: JobRecord, response: Response) -> JobPublic:
    """A started job's answer: 202 with the job, followed at ``Location``."""
    response.headers["Location"] = f"/v1/jobs/{record.id}"
    return job_public(record)


@router.get("", response_model=list[JobPublic])
def list_jobs(app: AppDep, who: PrincipalDep,
              kind: JobKind | None = None,
              target: Annotated[str | None, Query(max_length=200)] = None,
              state: JobState | None = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50,
              before: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$",
                                                  description="page: jobs older than this job")] = None,
              ) -> list[JobPublic]:
    """Newest first, at most ``limit``; page with ``before`` (the last job id seen). Batch
    scoring and pipeline jobs (their requests hold a team's paths and parameters) only of
    the caller's teams (platform admins: all)."""
    return [job_public(r) for r in app.jobs_page(
        who, kind=kind.value if kind else None, target=target, state=state.value if state else None,
        limit=limit, before=before)]


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job_id: JobId, app: AppDep, who: PrincipalDep) -> JobPublic:
    """One job; another team's batch scoring or pipeline job is a 404, as a missing one."""
    return job_public(app.job(job_id, who))


@router.get("/{job_id}/logs", response_model=list[JobLogLine])
def get_job_logs(job_id: JobId, app: AppDep, who: PrincipalDep,
                 after: Annotated[int, Query(ge=0, le=2**31 - 1,
                                             description="only lines after this seq")] = 0,
                 ) -> list[JobLogLine]:
    app.job(job_id, who)
    return [JobLogLine(seq=seq, at=at, line=line)
            for seq, at, line in app.jobs.store.logs(job_id, after)]
