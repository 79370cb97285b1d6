"""Production monitoring: outcomes, reports, thresholds, alerts, and the Prometheus text of
the service metrics. Thin adapters over the application layer's ``Monitoring``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from ferry_contract import (
    NAME_PATTERN,
    AlertPublic,
    JobPublic,
    MonitoringReportPublic,
    MonitoringRun,
    MonitorPublic,
    MonitorUpdate,
    OutcomesCreate,
    OutcomesPublic,
)
from ferry_platform.application._metrics import CONTENT_TYPE
from ferry_server.deps import AppDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import accepted

router = APIRouter(prefix="/v1", tags=["monitoring"], dependencies=[Depends(get_principal)])

DeploymentName = Annotated[str, Path(pattern=NAME_PATTERN)]


@router.post("/deployments/{name}/outcomes", response_model=OutcomesPublic)
def log_outcomes(name: DeploymentName, body: OutcomesCreate, app: AppDep,
                 who: PrincipalDep) -> OutcomesPublic:
    """Join labels and business values, known later, to logged predictions by request id
    (``x-ferry-request-id``). Unknown request ids are counted and returned, the rest is
    recorded; a label the model cannot have (wrong type, unknown class) is 422 naming it."""
    return app.monitoring.log_outcomes(name, body, who)


@router.get("/deployments/{name}/monitoring", response_model=MonitoringReportPublic)
def get_monitoring_report(name: DeploymentName, app: AppDep,
                          who: PrincipalDep) -> MonitoringReportPublic:
    """The latest monitoring report of the deployment (scheduled or asked for), with its
    open alerts. 404 until one was computed."""
    app.monitoring.require(who, "get_monitoring_report", name)
    return app.monitoring.latest(name)


@router.post("/deployments/{name}/monitoring", response_model=JobPublic, status_code=202)
def run_monitoring(name: DeploymentName, app: AppDep, who: PrincipalDep, response: Response,
                   body: Annotated[MonitoringRun | None, Body()] = None) -> JobPublic:
    """Compute the report of the last ``window`` now (a job; its result is the report):
    per release, drift per feature and of the predictions, fragility, slices and model
    metrics once outcomes arrived, latency and errors, business value per arm."""
    return accepted(app.monitoring.run(name, (body or MonitoringRun()).window, who), response)


@router.get("/deployments/{name}/monitor", response_model=MonitorPublic)
def get_monitor(name: DeploymentName, app: AppDep) -> MonitorPublic:
    """The deployment's monitoring thresholds (defaults where none were set)."""
    return app.monitoring.get_monitor(name)


@router.put("/deployments/{name}/monitor", response_model=MonitorPublic)
def put_monitor(name: DeploymentName, body: MonitorUpdate, app: AppDep,
                who: PrincipalDep) -> MonitorPublic:
    """Set thresholds: the fields given replace the current ones, the others stay. With
    ``canary_analysis``, canaries and A/B candidates are judged every ``interval_s`` and
    rolled back, stepped up or promoted by the platform itself (audited, with numbers)."""
    return app.monitoring.set_monitor(name, body, who)


@router.get("/alerts", response_model=list[AlertPublic])
def list_alerts(app: AppDep, who: PrincipalDep,
                deployment: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
                state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                before: Annotated[int | None, Query(
                    ge=1, le=2**31 - 1, description="page: alerts older than this id (the "
                                                "last one seen)")] = None,
                ) -> list[AlertPublic]:
    """Alerts, newest first: open ones by default; the next page with ``before`` (the
    last alert id seen). Platform admins see every team's."""
    return app.monitoring.alerts(who, deployment=deployment,
                                 state=None if state == "all" else state, limit=limit,
                                 before=before)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {
                "type": "string"}}}, "description": "Prometheus text format"}})
def get_metrics(app: AppDep) -> Response:
    """Service metrics for Prometheus: requests by deployment, release, arm and status, a
    latency histogram, errors, refused inputs by column and reason, prediction-log rows and
    drops (summed over every serving process), and the latest reports' drift and fragility
    gauges and open alerts."""
    return Response(app.monitoring.metrics(), media_type=CONTENT_TYPE)
