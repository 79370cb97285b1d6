"""The typed client of Ferry's control plane."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from ferry._config import ClientSettings
from ferry._deployment import Deployment
from ferry._features import ENTITY_TIMESTAMP, TrainingSet
from ferry_contract import (
    DeploymentCreate,
    DeploymentPublic,
    FeatureFreshnessPublic,
    FeaturePlanPublic,
    FeatureViewPublic,
    InvalidRequest,
    MaterializeCreate,
    ModelPublic,
    ModelVersionPublic,
    PlatformInfo,
    PlatformUnavailable,
    Protocol,
    TrainingSetCreate,
    TrainingSetPublic,
    error_from_body,
)


class Client:
    """Talks to a Ferry control plane over HTTP.

    ``Client()`` reaches the local platform (start it with ``ferry up``) unless ``FERRY_URL``
    or ``url`` names another. ``transport`` (any sync httpx transport) or ``http_client``
    (a ready ``httpx.Client``) are the seams tests use to talk to a real control plane
    in-process, e.g. ``Client(http_client=fastapi.testclient.TestClient(app))``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        settings = ClientSettings()
        self.url = (url or settings.url).rstrip("/")
        self._settings = settings
        self._http = http_client or httpx.Client(
            base_url=self.url,
            timeout=timeout_s or settings.timeout_s,
            transport=transport,
        )
        self._info: PlatformInfo | None = None

    # -- plumbing -----------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json: Any = None) -> Any:
        try:
            resp = self._http.request(method, path, json=json)
        except httpx.TransportError as e:
            raise PlatformUnavailable(
                f"no Ferry control plane answers at {self.url} ({type(e).__name__}). "
                "Start the local platform with `ferry up`, or set FERRY_URL."
            ) from e
        if resp.status_code == 204:
            return None
        try:
            body = resp.json()
        except ValueError:
            body = resp.text
        if resp.status_code >= 400:
            raise error_from_body(body, status=resp.status_code)
        return body

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- platform -----------------------------------------------------------------------
    def info(self) -> PlatformInfo:
        """What the platform is: versions, the MLflow URI to log to, serving endpoints."""
        if self._info is None:
            self._info = PlatformInfo.model_validate(self._request("GET", "/v1/platform"))
        return self._info

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/v1/health")
        return result

    # -- models -------------------------------------------------------------------------
    def register(
        self,
        model: Any,
        *,
        name: str,
        training_data: Any,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        code_version: str | None = None,
    ) -> ModelVersionPublic:
        """Register a trained model as a new version of ``name``.

        Logs the model to MLflow with its signature (inferred from ``training_data``'s
        feature columns), params, metrics, the training dataset (digest) and the code
        version (git commit), then has the platform register it and record its digest.
        ``target`` names the label column of ``training_data``, if it has one. When
        ``training_data`` is a :class:`TrainingSet`, the version also records the exact
        feature versions it was trained on, and entity keys and timestamps are left out.
        """
        from ferry._registration import check_name, log_model

        check_name(name)
        feature_refs: list[str] = []
        if isinstance(training_data, TrainingSet):
            feature_refs = list(training_data.feature_refs)
            training_data = training_data.features_only()
        info = self.info()
        model_public = ModelPublic.model_validate(
            self._request("PUT", f"/v1/models/{name}", json={"description": description}))
        create = log_model(
            model,
            name=name,
            tracking_uri=info.mlflow_tracking_uri,
            experiment_id=model_public.experiment_id,
            training_data=training_data,
            target=target,
            params=params,
            metrics=metrics,
            code=code_version,
        )
        create.feature_refs = feature_refs
        return ModelVersionPublic.model_validate(
            self._request("POST", f"/v1/models/{name}/versions", json=create.model_dump()))

    def models(self) -> list[ModelPublic]:
        return [ModelPublic.model_validate(m) for m in self._request("GET", "/v1/models")]

    def model(self, name: str) -> ModelPublic:
        return ModelPublic.model_validate(self._request("GET", f"/v1/models/{name}"))

    def versions(self, name: str) -> list[ModelVersionPublic]:
        return [ModelVersionPublic.model_validate(v)
                for v in self._request("GET", f"/v1/models/{name}/versions")]

    def version(self, name: str, version: int) -> ModelVersionPublic:
        return ModelVersionPublic.model_validate(
            self._request("GET", f"/v1/models/{name}/versions/{version}"))

    # -- features -----------------------------------------------------------------------
    def feature_views(self) -> list[FeatureViewPublic]:
        """Feature views, each with its versions and the active one."""
        return [FeatureViewPublic.model_validate(v)
                for v in self._request("GET", "/v1/features/views")]

    def feature_freshness(self) -> list[FeatureFreshnessPublic]:
        """Per view and version: the newest online value and whether it is within the TTL."""
        return [FeatureFreshnessPublic.model_validate(v)
                for v in self._request("GET", "/v1/features/freshness")]

    def plan_features(self) -> FeaturePlanPublic:
        """What applying the platform's feature repository would change (nothing is written)."""
        return FeaturePlanPublic.model_validate(self._request("POST", "/v1/features/plan"))

    def apply_features(self) -> FeaturePlanPublic:
        return FeaturePlanPublic.model_validate(self._request("POST", "/v1/features/apply"))

    def materialize(self, start: Any, end: Any, views: list[str] | None = None,
                    on_progress: Callable[[int, int, str], None] | None = None,
                    ) -> list[FeatureViewPublic]:
        """Load the active version of each view (or ``views``) into the online store.

        Views are materialized one at a time; ``on_progress(done, total, view)`` is called
        before each and once at the end (with ``view=""``)."""
        try:
            MaterializeCreate(start=start, end=end, views=views)
        except ValidationError as e:
            raise InvalidRequest(f"cannot materialize: {_validation_message(e)}") from e
        names = views or [v.name for v in self.feature_views()]
        result: list[FeatureViewPublic] = []
        for i, name in enumerate(names):
            if on_progress:
                on_progress(i, len(names), name)
            body = MaterializeCreate(start=start, end=end, views=[name]).model_dump(mode="json")
            result = [FeatureViewPublic.model_validate(v)
                      for v in self._request("POST", "/v1/features/materialize", json=body)]
        if on_progress:
            on_progress(len(names), len(names), "")
        return result

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
            self._request("POST", "/v1/training-sets", json=req.model_dump(mode="json")))
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

    # -- deployments --------------------------------------------------------------------
    def deploy(
        self,
        model: str,
        *,
        version: int,
        name: str | None = None,
        protocol: Protocol | str = Protocol.auto,
        replicas: int | None = None,
    ) -> Deployment:
        """Deploy exactly ``model`` v``version``; returns once it serves (or raises why not).

        ``protocol`` and ``replicas`` default to the platform's choice (REST and gRPC;
        ``default_replicas``). The deployment is named ``name`` (default: the model name).
        """
        try:
            req = DeploymentCreate(model=model, version=version, name=name,
                                   protocol=Protocol(protocol), replicas=replicas)
        except ValueError as e:
            raise InvalidRequest(f"invalid deploy request: {e}") from e
        body = self._request("POST", "/v1/deployments", json=req.model_dump(mode="json"))
        return self._handle(DeploymentPublic.model_validate(body))

    def status(self, name: str) -> DeploymentPublic:
        return DeploymentPublic.model_validate(self._request("GET", f"/v1/deployments/{name}"))

    def deployments(self) -> list[DeploymentPublic]:
        return [DeploymentPublic.model_validate(d)
                for d in self._request("GET", "/v1/deployments")]

    def deployment(self, name: str) -> Deployment:
        """A handle on an existing deployment, to predict with."""
        return self._handle(self.status(name))

    def undeploy(self, name: str) -> None:
        self._request("DELETE", f"/v1/deployments/{name}")

    def _handle(self, info: DeploymentPublic) -> Deployment:
        return Deployment(info, predict_timeout_s=self._settings.predict_timeout_s)


def _validation_message(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
                     for e in error.errors())
