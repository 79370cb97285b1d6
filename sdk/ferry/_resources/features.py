"""``client.features``: versioned feature views, materialization, training sets."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ferry._features import ENTITY_TIMESTAMP, TrainingSet
from ferry._transport import Progress, Transport, validation_message
from ferry_contract import (
    FeatureFreshnessPublic,
    FeaturePlanPublic,
    FeatureViewPublic,
    InvalidRequest,
    MaterializationSchedulePublic,
    MaterializationScheduleUpdate,
    MaterializeCreate,
    TrainingSetCreate,
    TrainingSetPublic,
)


class Features:
    """The platform's feature repository (Feast): views and their versions, the online
    store, point-in-time-correct training sets."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def views(self) -> list[FeatureViewPublic]:
        """Feature views, each with its versions and the active one."""
        return [FeatureViewPublic.model_validate(v)
                for v in self._transport.request("GET", "/v1/features/views")]

    def freshness(self) -> list[FeatureFreshnessPublic]:
        """Per view and version: the newest online value and whether it is within the TTL."""
        return [FeatureFreshnessPublic.model_validate(v)
                for v in self._transport.request("GET", "/v1/features/freshness")]

    def plan(self) -> FeaturePlanPublic:
        """What applying the platform's feature repository would change (nothing is written)."""
        return FeaturePlanPublic.model_validate(self._transport.request("POST", "/v1/features/plan"))

    def apply(self) -> FeaturePlanPublic:
        return FeaturePlanPublic.model_validate(self._transport.request("POST", "/v1/features/apply"))

    def materialize(self, start: Any, end: Any, views: list[str] | None = None,
                    on_progress: Progress | None = None) -> list[str]:
        """Load the active version of each view (or ``views``) into the online store for
        event times in [start, end]; returns the ``view@vN`` loaded. Runs as a job on the
        control plane, one view at a time; ``on_progress(step, percent)`` sees each."""
        try:
            body = MaterializeCreate(start=start, end=end, views=views).model_dump(mode="json")
        except ValidationError as e:
            raise InvalidRequest(f"cannot materialize: {validation_message(e)}") from e
        done = self._transport.run_job("POST", "/v1/features/materialize", body,
                                       on_progress=on_progress)
        return list((done.result or {}).get("materialized", []))

    def training_set(self, features: list[str], entities: Any) -> TrainingSet:
        """A point-in-time-correct training set.

        ``entities`` is a DataFrame (or row dicts) of join keys and an ``event_timestamp``
        per row; each row gets the feature values known at that time, never later ones.
        ``features`` are ``view:feature`` (pinned to the active version) or
        ``view@vN:feature``. The result records the exact versions used.
        """
        import pandas as pd

        frame = entities if isinstance(entities, pd.DataFrame) else pd.DataFrame(entities)
        if ENTITY_TIMESTAMP in frame.columns:
            frame = frame.assign(**{ENTITY_TIMESTAMP: pd.to_datetime(
                frame[ENTITY_TIMESTAMP], utc=True).map(lambda t: t.isoformat())})
        try:
            req = TrainingSetCreate(features=list(features),
                                    entities=frame.to_dict("records"))
        except ValueError as e:
            raise InvalidRequest(f"invalid training-set request: {e}") from e
        body = TrainingSetPublic.model_validate(
            self._transport.request("POST", "/v1/training-sets", json=req.model_dump(mode="json")))
        out = pd.DataFrame(body.rows, columns=body.columns)
        if ENTITY_TIMESTAMP in out.columns:
            out[ENTITY_TIMESTAMP] = pd.to_datetime(out[ENTITY_TIMESTAMP], utc=True)
        for ref in body.feature_refs:
            col = ref.split(":", 1)[1]
            if out[col].dtype == object:  # JSON nulls made it object; numbers become NaN-able
                try:
                    out[col] = pd.to_numeric(out[col])
                except (ValueError, TypeError):
                    pass
        return TrainingSet(out, body.feature_refs, [str(c) for c in frame.columns])

    def schedule(self, view: str, cron: str, *,
                 lookback_hours: float = 24.0) -> MaterializationSchedulePublic:
        """Materialize ``view`` on a cron schedule (UTC): each due time loads its active
        version for event times since the previous one (the first: ``lookback_hours``)."""
        try:
            body = MaterializationScheduleUpdate(cron=cron, lookback_hours=lookback_hours)
        except ValidationError as e:
            raise InvalidRequest(f"invalid schedule: {validation_message(e)}") from None
        return MaterializationSchedulePublic.model_validate(self._transport.request(
            "PUT", f"/v1/features/views/{view}/schedule", json=body.model_dump(mode="json")))

    def schedules(self) -> list[MaterializationSchedulePublic]:
        """Feature views materialized on a schedule, with their last and next runs."""
        return [MaterializationSchedulePublic.model_validate(s)
                for s in self._transport.request("GET", "/v1/features/schedules")]

    def unschedule(self, view: str) -> None:
        self._transport.request("DELETE", f"/v1/features/views/{view}/schedule")
