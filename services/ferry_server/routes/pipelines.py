"""Pipelines as code: registered pipelines, their runs (by hand, on a schedule, on alerts)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Response

from ferry_contract import (
    PIPELINE_NAME_PATTERN,
    PipelineCreate,
    PipelinePublic,
    PipelineRunCreate,
    PipelineRunPublic,
    RunState,
)
from ferry_server.deps import AppDep, PrincipalDep, get_principal

router = APIRouter(tags=["pipelines"], dependencies=[Depends(get_principal)])

PipelineName = Annotated[str, Path(pattern=PIPELINE_NAME_PATTERN,
                                   description="the pipeline's name (its function's, unless "
                                               "@pipeline(name=...) says otherwise)")]


@router.get("/v1/pipelines", response_model=list[PipelinePublic])
def list_pipelines(app: AppDep, who: PrincipalDep, response: Response,
                   after: Annotated[str | None, Query(
                       pattern=PIPELINE_NAME_PATTERN,
                       description="page: pipelines named after this one")] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   ) -> list[PipelinePublic]:
    """The pipelines of the caller's teams (platform admins: all) by name, with their next
    scheduled run and their last run: at most ``limit``, and a ``Link: <...>;
    rel="next"`` header while more follow."""
    page = app.pipelines.all(who, after=after, limit=limit + 1)
    if len(page) > limit:
        query = urlencode({"after": page[limit - 1].name, "limit": limit})
        response.headers["Link"] = f'</v1/pipelines?{query}>; rel="next"'
    return page[:limit]


@router.get("/v1/pipelines/{name}", response_model=PipelinePublic)
def get_pipeline(name: PipelineName, app: AppDep, who: PrincipalDep) -> PipelinePublic:
    """One pipeline of the caller's teams; another team's is a 404, as a missing one."""
    return app.pipelines.get(name, who)


@router.put("/v1/pipelines/{name}", response_model=PipelinePublic)
def put_pipeline(name: PipelineName, body: PipelineCreate, app: AppDep,
                 who: PrincipalDep) -> PipelinePublic:
    """Register (or update) a pipeline: the ``module:attribute`` of its ``@pipeline``
    function, the directory of the team's pipeline repository, its cron schedule, the
    alerts that start it and what a run due while another is under way does. The control
    plane never imports it: each run imports it in an isolated process."""
    return app.pipelines.register(name, body, who)


@router.delete("/v1/pipelines/{name}", status_code=204)
def delete_pipeline(name: PipelineName, app: AppDep, who: PrincipalDep) -> Response:
    """Unregister a pipeline (its runs stay recorded, in Ferry and in MLflow). Its queued
    runs are recorded as skipped, never started; while a run of it is running the answer
    is 409 naming the run (a run is never cut short): delete it again once that ends."""
    app.pipelines.delete(name, who)
    return Response(status_code=204)


@router.post("/v1/pipelines/{name}/runs", response_model=PipelineRunPublic, status_code=202)
def run_pipeline(name: PipelineName, app: AppDep, who: PrincipalDep, response: Response,
                 body: PipelineRunCreate | None = None) -> PipelineRunPublic:
    """Start a run now, as a job (follow it at ``Location``). If a run is under way, the
    new one is queued (``overlap=wait``) or recorded as skipped (``overlap=skip``)."""
    run = app.pipelines.run(name, who, (body or PipelineRunCreate()).params)
    if run.job_id:
        response.headers["Location"] = f"/v1/jobs/{run.job_id}"
    return run


@router.get("/v1/pipelines/{name}/runs", response_model=list[PipelineRunPublic])
def list_pipeline_runs(name: PipelineName, app: AppDep, who: PrincipalDep,
                       state: RunState | None = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       before: Annotated[str | None, Query(
                           pattern=r"^[0-9a-f]{16}$",
                           description="page: runs older than this one (the last id seen)")]
                       = None) -> list[PipelineRunPublic]:
    """Runs of the pipeline, newest first: good or bad, with their steps, what they
    registered, the evaluations they got and their MLflow run (the caller's teams'
    pipelines; another team's is a 404)."""
    return app.pipelines.runs(name, who, state=state.value if state else None, limit=limit,
                              before=before)


@router.get("/v1/pipeline-runs/{run_id}", response_model=PipelineRunPublic)
def get_pipeline_run(run_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")],
                     app: AppDep, who: PrincipalDep) -> PipelineRunPublic:
    """One run of a pipeline of the caller's teams; another team's is a 404, as a
    missing one."""
    return app.pipelines.run_record(run_id, who)
