from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ferry_contract import (
    FeatureChangePublic,
    FeatureFreshnessPublic,
    FeaturePlanPublic,
    FeatureVersionPublic,
    FeatureViewPublic,
    JobPublic,
    MaterializationSchedulePublic,
    MaterializationScheduleUpdate,
    MaterializeCreate,
    TrainingSetCreate,
    TrainingSetPublic,
)
from ferry_server._limits import body_limit
from ferry_server.deps import AppDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import accepted

router = APIRouter(prefix="/v1", tags=["features"], dependencies=[Depends(get_principal)])


def _plan(changes: list, applied: bool) -> FeaturePlanPublic:  # type: ignore[type-arg]
    return FeaturePlanPublic(applied=applied, changes=[
        FeatureChangePublic(view=c.view, change=c.change, version=c.version,
                            properties=c.properties, description=c.describe())
        for c in changes])


@router.get("/features/views", response_model=list[FeatureViewPublic])
def list_feature_views(app: AppDep) -> list[FeatureViewPublic]:
    """Feature views with every version Feast keeps and the one that is active."""
    return [FeatureViewPublic(
        name=v.name, active_version=v.active_version, entities=v.entities, team=v.team,
        versions=[FeatureVersionPublic(version=x.version, created_at=x.created,
                                       features=x.features) for x in v.versions])
        for v in app.features.port.views()]


@router.get("/features/freshness", response_model=list[FeatureFreshnessPublic])
def list_feature_freshness(app: AppDep) -> list[FeatureFreshnessPublic]:
    """Per view and version: newest online value and whether it is within the view's TTL."""
    now = datetime.now(UTC)
    return [FeatureFreshnessPublic(view=f.view, version=f.version, active=f.active,
                                   ttl_seconds=f.ttl_s, newest=f.newest, fresh=f.fresh(now))
            for f in app.features.port.freshness()]


@router.post("/features/plan", response_model=FeaturePlanPublic)
def plan_features(app: AppDep) -> FeaturePlanPublic:
    """What applying the feature repository would do; which views get a new version."""
    return _plan(app.features.port.plan(), applied=False)


@router.post("/features/apply", response_model=FeaturePlanPublic)
def apply_features(app: AppDep, who: PrincipalDep) -> FeaturePlanPublic:
    return _plan(app.features.apply(who), applied=True)


@router.post("/features/materialize", response_model=JobPublic, status_code=202)
def materialize_features(body: MaterializeCreate, app: AppDep, who: PrincipalDep,
                         response: Response) -> JobPublic:
    """Start loading each view's active version into the online store for [start, end]:
    answers with the materialize job (progress per view). Unknown views are refused here."""
    return accepted(app.features.materialize(body, who), response)


@router.post("/training-sets", response_model=TrainingSetPublic,
             openapi_extra=body_limit("training_set_max_mb"))
def create_training_set(body: TrainingSetCreate, app: AppDep,
                        who: PrincipalDep) -> TrainingSetPublic:
    """A point-in-time-correct training set and the exact feature versions it used
    (deployers; at most FERRY_TRAINING_SET_CONCURRENCY at once, 429 beyond)."""
    import pandas as pd

    ts = app.features.training_set(body.features, pd.DataFrame.from_records(body.entities), who)
    frame = ts.frame.astype(object).where(ts.frame.notna(), None)
    if "event_timestamp" in frame.columns:
        frame["event_timestamp"] = [t.isoformat() for t in ts.frame["event_timestamp"]]
    return TrainingSetPublic(feature_refs=ts.feature_refs, columns=[str(c) for c in frame.columns],
                             rows=frame.values.tolist())


@router.get("/features/schedules", response_model=list[MaterializationSchedulePublic])
def list_materialization_schedules(app: AppDep) -> list[MaterializationSchedulePublic]:
    """Feature views materialized on a cron schedule, with their last and next runs."""
    return app.pipelines.materialization_schedules()


@router.put("/features/views/{view}/schedule", response_model=MaterializationSchedulePublic)
def put_materialization_schedule(
        view: Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_\-]+$")],
        body: MaterializationScheduleUpdate, app: AppDep,
        who: PrincipalDep) -> MaterializationSchedulePublic:
    """Materialize ``view`` on a cron schedule (UTC): each due time loads its active
    version into the online store for event times since the previous one (the first: the
    last ``lookback_hours``), as a materialize job. Unknown views are refused."""
    return app.pipelines.schedule_materialization(view, body, who)


@router.delete("/features/views/{view}/schedule", status_code=204)
def delete_materialization_schedule(
        view: Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_\-]+$")],
        app: AppDep, who: PrincipalDep) -> Response:
    app.pipelines.delete_materialization_schedule(view, who)
    return Response(status_code=204)
