from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from ferry_contract import (
    FeatureChangePublic,
    FeatureFreshnessPublic,
    FeatureNotFound,
    FeaturePlanPublic,
    FeatureVersionPublic,
    FeatureViewPublic,
    JobPublic,
    MaterializeCreate,
    TrainingSetCreate,
    TrainingSetPublic,
)
from ferry_platform.features import PlannedChange
from ferry_server.deps import PlatformDep, PrincipalDep, get_principal
from ferry_server.routes.jobs import job_public

router = APIRouter(prefix="/v1", tags=["features"], dependencies=[Depends(get_principal)])


def _plan(changes: list[PlannedChange], applied: bool) -> FeaturePlanPublic:
    return FeaturePlanPublic(applied=applied, changes=[
        FeatureChangePublic(view=c.view, change=c.change, version=c.version,
                            properties=c.properties, description=c.describe())
        for c in changes])


@router.get("/features/views", response_model=list[FeatureViewPublic])
def list_feature_views(platform: PlatformDep) -> list[FeatureViewPublic]:
    """Feature views with every version Feast keeps and the one that is active."""
    return [FeatureViewPublic(
        name=v.name, active_version=v.active_version, entities=v.entities,
        versions=[FeatureVersionPublic(version=x.version, created_at=x.created,
                                       features=x.features) for x in v.versions])
        for v in platform.features.views()]


@router.get("/features/freshness", response_model=list[FeatureFreshnessPublic])
def list_feature_freshness(platform: PlatformDep) -> list[FeatureFreshnessPublic]:
    """Per view and version: newest online value and whether it is within the view's TTL."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return [FeatureFreshnessPublic(view=f.view, version=f.version, active=f.active,
                                   ttl_seconds=f.ttl_s, newest=f.newest, fresh=f.fresh(now))
            for f in platform.features.freshness()]


@router.post("/features/plan", response_model=FeaturePlanPublic)
def plan_features(platform: PlatformDep) -> FeaturePlanPublic:
    """What applying the feature repository would do; which views get a new version."""
    return _plan(platform.features.plan(), applied=False)


@router.post("/features/apply", response_model=FeaturePlanPublic)
def apply_features(platform: PlatformDep, who: PrincipalDep) -> FeaturePlanPublic:
    platform.access.require_any(who, "deployer", "apply feature definitions")
    plan = _plan(platform.features.apply(), applied=True)
    platform.access.audit(who, "features.apply", "features", None, details={
        "changes": [c.description for c in plan.changes if c.change != "unchanged"]})
    return plan


@router.post("/features/materialize", response_model=JobPublic, status_code=202)
def materialize_features(body: MaterializeCreate, platform: PlatformDep, who: PrincipalDep,
                         response: Response) -> JobPublic:
    """Start loading each view's active version into the online store for [start, end]:
    answers with the materialize job (progress per view). Unknown views are refused here."""
    if body.views:
        known = {v.name for v in platform.features.views()}
        unknown = [v for v in body.views if v not in known]
        if unknown:
            raise FeatureNotFound(f"no feature view(s) {unknown}; views: {sorted(known)}")
    job = job_public(platform.submit_materialize(body, who))
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.post("/training-sets", response_model=TrainingSetPublic)
def create_training_set(body: TrainingSetCreate, platform: PlatformDep) -> TrainingSetPublic:
    """A point-in-time-correct training set and the exact feature versions it used."""
    import pandas as pd

    ts = platform.features.training_set(body.features, pd.DataFrame.from_records(body.entities))
    frame = ts.frame.astype(object).where(ts.frame.notna(), None)
    if "event_timestamp" in frame.columns:
        frame["event_timestamp"] = [t.isoformat() for t in ts.frame["event_timestamp"]]
    return TrainingSetPublic(feature_refs=ts.feature_refs, columns=[str(c) for c in frame.columns],
                             rows=frame.values.tolist())
