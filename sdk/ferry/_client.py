"""The typed client of Ferry's control plane."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from ferry import _credentials as credentials
from ferry._config import ClientSettings
from ferry._deployment import Deployment, to_columns, to_records
from ferry._features import ENTITY_TIMESTAMP, TrainingSet
from ferry._monitoring import MonitoringReport
from ferry_contract import (
    MAX_OUTCOMES,
    AlertPublic,
    AuditEventPublic,
    ChampionUpdate,
    DeploymentAccessUpdate,
    DeploymentCreate,
    DeploymentPublic,
    EvalSetCreate,
    EvalSetPublic,
    EvalTask,
    EvaluationCreate,
    EvaluationPublic,
    FeatureFreshnessPublic,
    FeaturePlanPublic,
    FeatureViewPublic,
    GateConfig,
    InvalidRequest,
    JobKind,
    JobLogLine,
    JobPublic,
    JobState,
    LoggedModelPublic,
    MaterializeCreate,
    MemberUpdate,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    MonitoringReportPublic,
    MonitoringRun,
    MonitorPublic,
    MonitorUpdate,
    OutcomesCreate,
    OutcomesPublic,
    PlatformInfo,
    PlatformUnavailable,
    PrincipalPublic,
    Protocol,
    ReleasePublic,
    Role,
    RolloutAction,
    RolloutCreate,
    RolloutMode,
    RolloutUpdate,
    ShadowReportPublic,
    TeamCreate,
    TeamPublic,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    TokenScope,
    TrainingSetCreate,
    TrainingSetPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
    error_from_body,
)

Progress = Callable[[str, int], None]
"""``on_progress(step, percent)``: called as a job moves to a new step."""


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
        token: str | None = None,
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
        secret = token or settings.token or credentials.load(settings.home, self.url)
        self._token = secret or None  # also sent with predictions (the data plane checks it)
        if secret:
            self._http.headers["Authorization"] = f"Bearer {secret}"
        self._info: PlatformInfo | None = None

    # -- plumbing -----------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json: Any = None,
                 params: Mapping[str, Any] | None = None, files: Any = None,
                 data: Mapping[str, str] | None = None) -> Any:
        try:
            resp = self._http.request(method, path, json=json, params=params, files=files,
                                      data=data)
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
        """What the platform is: its version, serving endpoints, defaults."""
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
        team: str | None = None,
        on_progress: Progress | None = None,
    ) -> ModelVersionPublic:
        """Register a trained model as a new version of ``name``.

        Saves the model with its signature (inferred from ``training_data``'s feature
        columns), uploads it to the control plane with its params, metrics, the training
        dataset (digest, schema, profile) and the code version (git commit), which logs it
        in MLflow and registers it, recording its digest (:meth:`log_model`, then one more
        call). ``target`` names the label column of ``training_data``, if it has one. When
        ``training_data`` is a :class:`TrainingSet`, the version also records the exact
        feature versions it was trained on, and entity keys and timestamps are left out.
        A new model is owned by ``team`` (default: the one team you deploy for).
        ``on_progress(step, percent)`` follows the upload.
        """
        logged = self.log_model(model, name=name, training_data=training_data, target=target,
                                params=params, metrics=metrics, description=description,
                                code_version=code_version, team=team, on_progress=on_progress)
        body = ModelVersionCreate(model_uri=logged.model_uri, run_id=logged.run_id)
        return ModelVersionPublic.model_validate(
            self._request("POST", f"/v1/models/{name}/versions", json=body.model_dump()))

    def log_model(
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
        team: str | None = None,
        on_progress: Progress | None = None,
    ) -> LoggedModelPublic:
        """The first half of :meth:`register`: save the model locally and upload it with
        its lineage; the control plane logs it into the model's experiment (creating the
        model, owned by ``team``, if new). Register the result with ``POST
        /v1/models/{name}/versions`` (``model_uri``, ``run_id``)."""
        import tempfile
        from pathlib import Path

        from ferry._registration import check_name, pack, save_model

        check_name(name)
        feature_refs: list[str] = []
        if isinstance(training_data, TrainingSet):
            feature_refs = list(training_data.feature_refs)
            training_data = training_data.features_only()
        self._request("PUT", f"/v1/models/{name}",
                      json={"description": description, "team": team})
        with tempfile.TemporaryDirectory(prefix="ferry-register-") as tmp:
            model_dir = Path(tmp) / "model"
            lineage = save_model(model, model_dir, name=name, training_data=training_data,
                                 target=target, params=params, metrics=metrics,
                                 code=code_version, feature_refs=feature_refs)
            archive = pack(model_dir, Path(tmp) / "model.tar.gz")
            with archive.open("rb") as raw:
                upload = _Upload(raw, archive.stat().st_size, on_progress)
                return LoggedModelPublic.model_validate(self._request(
                    "POST", f"/v1/models/{name}/logged-models",
                    files={"archive": ("model.tar.gz", upload, "application/gzip")},
                    data={"lineage": lineage.model_dump_json(by_alias=True)}))

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
                    on_progress: Progress | None = None) -> list[str]:
        """Load the active version of each view (or ``views``) into the online store for
        event times in [start, end]; returns the ``view@vN`` loaded. Runs as a job on the
        control plane, one view at a time; ``on_progress(step, percent)`` sees each."""
        try:
            body = MaterializeCreate(start=start, end=end, views=views).model_dump(mode="json")
        except ValidationError as e:
            raise InvalidRequest(f"cannot materialize: {_validation_message(e)}") from e
        job = JobPublic.model_validate(
            self._request("POST", "/v1/features/materialize", json=body))
        done = self.wait(job, on_progress=on_progress)
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
        allow_contract_change: bool = False,
        on_progress: Progress | None = None,
        timeout_s: float | None = None,
    ) -> Deployment:
        """Deploy exactly ``model`` v``version``; returns once it serves (or raises why not).

        ``protocol`` and ``replicas`` default to the platform's choice (REST and gRPC;
        ``default_replicas``). The deployment is named ``name`` (default: the model name).
        The deploy runs as a job on the control plane; ``on_progress(step, percent)`` sees
        its steps. To start it and not wait, use :meth:`start_deploy`.

        A version whose clients must send other columns than those of the release it
        replaces (another column set, entity keys instead of inputs) is refused with
        :class:`ContractChange` naming each difference, unless ``allow_contract_change``.
        """
        started = self.start_deploy(model, version=version, name=name, protocol=protocol,
                                    replicas=replicas,
                                    allow_contract_change=allow_contract_change)
        job = self.wait(started, on_progress=on_progress, timeout_s=timeout_s)
        return self._handle(DeploymentPublic.model_validate(job.result))

    def start_deploy(
        self,
        model: str,
        *,
        version: int,
        name: str | None = None,
        protocol: Protocol | str = Protocol.auto,
        replicas: int | None = None,
        allow_contract_change: bool = False,
    ) -> JobPublic:
        """Start a deploy job and return it at once (``ferry deploy --detach``)."""
        try:
            req = DeploymentCreate(model=model, version=version, name=name,
                                   protocol=Protocol(protocol), replicas=replicas,
                                   allow_contract_change=allow_contract_change)
        except ValueError as e:
            raise InvalidRequest(f"invalid deploy request: {e}") from e
        return JobPublic.model_validate(
            self._request("POST", "/v1/deployments", json=req.model_dump(mode="json")))

    def releases(self, model: str | None = None, limit: int = 100) -> list[ReleasePublic]:
        """Built releases, newest first (``model`` to narrow)."""
        params = {k: v for k, v in {"model": model, "limit": limit}.items() if v is not None}
        return [ReleasePublic.model_validate(r)
                for r in self._request("GET", "/v1/releases", params=params)]

    # -- jobs ---------------------------------------------------------------------------
    def jobs(self, *, kind: JobKind | str | None = None, target: str | None = None,
             state: JobState | str | None = None, limit: int = 50) -> list[JobPublic]:
        """Recent jobs, newest first."""
        params = {k: (v.value if isinstance(v, (JobState, JobKind)) else v) for k, v in
                  {"kind": kind, "target": target, "state": state, "limit": limit}.items()
                  if v is not None}
        return [JobPublic.model_validate(j)
                for j in self._request("GET", "/v1/jobs", params=params)]

    def job(self, job_id: str) -> JobPublic:
        return JobPublic.model_validate(self._request("GET", f"/v1/jobs/{job_id}"))

    def job_logs(self, job_id: str, after: int = 0) -> list[JobLogLine]:
        return [JobLogLine.model_validate(line) for line in
                self._request("GET", f"/v1/jobs/{job_id}/logs", params={"after": after})]

    def wait(self, job: JobPublic | str, *, on_progress: Progress | None = None,
             timeout_s: float | None = None, poll_s: float = 0.3) -> JobPublic:
        """Follow a job until it ends. Returns it if it succeeded; raises its error (the
        same typed exception the API would) if it failed."""
        job_id = job if isinstance(job, str) else job.id
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        seen: tuple[str, int] | None = None
        while True:
            current = self.job(job_id)
            if on_progress and (current.step, current.percent) != seen and current.step:
                seen = (current.step, current.percent)
                on_progress(current.step, current.percent)
            if current.state is JobState.failed:
                error = current.error or {}
                raise error_from_body({"error": error}, status=int(error.get("status", 500)))
            if current.state is JobState.succeeded:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise PlatformUnavailable(
                    f"job {job_id} is still {current.state.value} after {timeout_s:g}s "
                    f"(at '{current.step}'); follow it with `ferry jobs show {job_id}`.")
            time.sleep(poll_s)

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

    def set_anonymous_predict(self, name: str, allowed: bool) -> DeploymentPublic:
        """Team admins: let requests without a token predict on ``name`` (or stop it).
        Off by default; shown in :meth:`status` and audited."""
        body = DeploymentAccessUpdate(anonymous_predict=allowed).model_dump()
        return DeploymentPublic.model_validate(
            self._request("PATCH", f"/v1/deployments/{name}/access", json=body))

    # -- monitoring ---------------------------------------------------------------------
    def log_outcomes(self, name: str, outcomes: Any) -> OutcomesPublic:
        """Labels and business values of answered requests, known later: a list of
        ``{"request_id", "label", "value", "row"}`` (or a DataFrame of those columns;
        ``label`` or ``value`` may be missing). Joined to the logged predictions of ``name``
        by request id (``Prediction.request_id``); unknown ids are counted and returned."""
        import pandas as pd

        if isinstance(outcomes, pd.DataFrame):
            outcomes = [{k: _plain(v) for k, v in row.items() if _plain(v) is not None}
                        for row in outcomes.to_dict("records")]
        items = list(outcomes)
        total = OutcomesPublic(deployment=name, received=0, recorded=0, unknown=0)
        for start in range(0, max(1, len(items)), MAX_OUTCOMES):
            chunk = items[start:start + MAX_OUTCOMES]
            try:
                body = OutcomesCreate.model_validate({"outcomes": chunk})
            except ValidationError as e:
                raise InvalidRequest(f"invalid outcomes: {_validation_message(e)}") from e
            done = OutcomesPublic.model_validate(self._request(
                "POST", f"/v1/deployments/{name}/outcomes",
                json=body.model_dump(mode="json", exclude_unset=True)))
            total = OutcomesPublic(
                deployment=name, received=total.received + done.received,
                recorded=total.recorded + done.recorded, unknown=total.unknown + done.unknown,
                unknown_request_ids=(total.unknown_request_ids + done.unknown_request_ids)[:100])
        return total

    def monitoring(self, name: str, window: str = "1h", *,
                   on_progress: Progress | None = None,
                   timeout_s: float | None = None) -> MonitoringReport:
        """The monitoring report of ``name``'s last ``window`` (e.g. ``"15m"``, ``"1h"``,
        ``"7d"``), computed now: per release, drift per feature and of the predictions,
        fragility, slice and model metrics once outcomes arrived, latency and errors,
        business value per arm, open alerts. ``report.plot("drift.png")`` draws it."""
        try:
            body = MonitoringRun(window=window).model_dump()
        except ValidationError as e:
            raise InvalidRequest(f"cannot monitor {name!r}: {_validation_message(e)}") from e
        job = JobPublic.model_validate(
            self._request("POST", f"/v1/deployments/{name}/monitoring", json=body))
        done = self.wait(job, on_progress=on_progress, timeout_s=timeout_s)
        return MonitoringReport(MonitoringReportPublic.model_validate(
            {k: v for k, v in (done.result or {}).items()
             if k in MonitoringReportPublic.model_fields}))

    def monitoring_report(self, name: str) -> MonitoringReport:
        """The latest report of ``name`` (the scheduled one, or the last asked for)."""
        return MonitoringReport(MonitoringReportPublic.model_validate(
            self._request("GET", f"/v1/deployments/{name}/monitoring")))

    def monitor(self, name: str) -> MonitorPublic:
        """``name``'s monitoring thresholds."""
        return MonitorPublic.model_validate(self._request("GET",
                                                          f"/v1/deployments/{name}/monitor"))

    def set_monitor(self, name: str, **fields: Any) -> MonitorPublic:
        """Set monitoring thresholds of ``name`` (the fields given; the others stay):
        ``drift_threshold``, ``drift_method``, ``null_rate_max``, ``out_of_range_max``,
        ``unseen_category_max``, ``slice_gap_max``, ``slice_columns``, ``error_rate_max``,
        ``p99_ms_max``, ``min_rows``, and ``canary_analysis={"max_error_rate": 0.02,
        "max_p99_ms": 100, "min_requests": 200, "steps": [25, 50], "promote": True}``."""
        try:
            body = MonitorUpdate.model_validate(fields)
        except ValidationError as e:
            raise InvalidRequest(f"invalid monitor of {name!r}: {_validation_message(e)}") from e
        return MonitorPublic.model_validate(self._request(
            "PUT", f"/v1/deployments/{name}/monitor",
            json=body.model_dump(mode="json", exclude_unset=True)))

    def alerts(self, deployment: str | None = None, *, state: str = "open",
               limit: int = 100) -> list[AlertPublic]:
        """Alerts (open by default; ``state="all"`` or ``"resolved"``), newest first."""
        params = {k: v for k, v in {"deployment": deployment, "state": state,
                                    "limit": limit}.items() if v is not None}
        return [AlertPublic.model_validate(a)
                for a in self._request("GET", "/v1/alerts", params=params)]

    def metrics(self) -> str:
        """The platform's service metrics in Prometheus' text format."""
        resp = self._http.get("/v1/metrics")
        if resp.status_code >= 400:
            raise error_from_body(resp.json(), status=resp.status_code)
        return resp.text

    # -- continuous evaluation ----------------------------------------------------------
    def create_eval_set(self, model: str, rows: Any, *, label: str,
                        slice_column: str | None = None, task: EvalTask | str = EvalTask.auto,
                        start: Any = None, end: Any = None, pin: bool = False) -> EvalSetPublic:
        """Upload labelled rows as the model's next evaluation set version.

        ``rows`` (a DataFrame or row dicts) hold the model's inputs, or for a model trained
        on features its entity keys and ``event_timestamp`` (``start``/``end`` keep a
        fixed window of them), plus ``label`` and optionally ``slice_column``, whose
        groups are scored separately so a model worse for one group shows.

        The gate keeps using the set version pinned in it; ``pin=True`` (admins of the
        model's team) also moves the pin to this new version.
        """
        import pandas as pd

        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        if ENTITY_TIMESTAMP in frame.columns:
            frame = frame.assign(**{ENTITY_TIMESTAMP: pd.to_datetime(
                frame[ENTITY_TIMESTAMP], utc=True).map(lambda t: t.isoformat())})
        try:
            body = EvalSetCreate(rows=to_records(to_columns(frame)), label=label,
                                 slice_column=slice_column, task=EvalTask(task),
                                 start=start, end=end)
        except ValueError as e:
            raise InvalidRequest(f"invalid evaluation set: {e}") from e
        created = EvalSetPublic.model_validate(self._request(
            "POST", f"/v1/models/{model}/eval-sets", json=body.model_dump(mode="json")))
        if pin:
            self.set_gate(model, eval_set_version=created.version)
        return created

    def eval_sets(self, model: str) -> list[EvalSetPublic]:
        return [EvalSetPublic.model_validate(e)
                for e in self._request("GET", f"/v1/models/{model}/eval-sets")]

    def gate(self, model: str) -> GateConfig:
        return GateConfig.model_validate(self._request("GET", f"/v1/models/{model}/gate"))

    def set_gate(self, model: str, **fields: Any) -> GateConfig:
        """Change the gate (admins of the model's team): ``primary_metric``,
        ``tolerance``, ``baseline_margin``, ``slice_tolerance``, ``min_slice_rows``,
        ``guardrails`` (a list of ``{"metric", "tolerance", "relative", "vs_baseline"}``;
        None for the task's defaults, [] for none) and ``eval_set_version`` (the pinned
        evaluation set). Unnamed fields keep their current values."""
        try:
            body = GateConfig(**{**self.gate(model).model_dump(), **fields})
        except ValueError as e:
            raise InvalidRequest(f"invalid gate: {e}") from e
        return GateConfig.model_validate(self._request(
            "PUT", f"/v1/models/{model}/gate", json=body.model_dump(mode="json")))

    def evaluate(self, model: str, version: int, *, against: int | None = None,
                 eval_set_version: int | None = None, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> EvaluationPublic:
        """Evaluate ``version`` against the champion (or ``against``) and a trivial
        baseline on the gate's pinned evaluation set (or ``eval_set_version``: only
        evaluations on the pinned set count for the gate); the result is kept in MLflow."""
        body = EvaluationCreate(version=version, against=against,
                                eval_set_version=eval_set_version).model_dump()
        job = JobPublic.model_validate(
            self._request("POST", f"/v1/models/{model}/evaluations", json=body))
        done = self.wait(job, on_progress=on_progress, timeout_s=timeout_s)
        return EvaluationPublic.model_validate(done.result)

    def evaluations(self, model: str, version: int | None = None) -> list[EvaluationPublic]:
        params = {"version": version} if version is not None else None
        return [EvaluationPublic.model_validate(e) for e in
                self._request("GET", f"/v1/models/{model}/evaluations", params=params)]

    def compare(self, model: str, base: int, candidate: int, *,
                on_progress: Progress | None = None) -> EvaluationPublic:
        """``candidate`` vs ``base`` vs the baseline, side by side with every gate check;
        evaluates first if that comparison was not run on the current evaluation set."""
        from ferry_contract import NotFound

        try:
            return EvaluationPublic.model_validate(self._request(
                "GET", f"/v1/models/{model}/compare",
                params={"base": base, "candidate": candidate}))
        except NotFound as e:
            if e.details.get("against") != base:
                raise
        return self.evaluate(model, candidate, against=base, on_progress=on_progress)

    def set_champion(self, model: str, version: int, *, reason: str | None = None) -> ModelPublic:
        """Make ``version`` the champion, through its gate (admins may override it with a
        ``reason``, which is audited)."""
        try:
            body = ChampionUpdate(version=version, reason=reason).model_dump()
        except ValueError as e:
            raise InvalidRequest(f"invalid champion change: {e}") from e
        return ModelPublic.model_validate(
            self._request("PUT", f"/v1/models/{model}/champion", json=body))

    # -- rollouts -----------------------------------------------------------------------
    def _follow(self, path: str, body: dict[str, Any] | None, on_progress: Progress | None,
                timeout_s: float | None, method: str = "POST") -> Deployment:
        job = JobPublic.model_validate(self._request(method, path, json=body))
        done = self.wait(job, on_progress=on_progress, timeout_s=timeout_s)
        return self._handle(DeploymentPublic.model_validate(done.result))

    def rollout(
        self,
        name: str,
        *,
        version: int,
        canary: int | None = None,
        ab: int | None = None,
        sticky_key: str | None = None,
        shadow: bool = False,
        model: str | None = None,
        override_reason: str | None = None,
        on_progress: Progress | None = None,
        timeout_s: float | None = None,
    ) -> Deployment:
        """Start ``version`` beside what ``name`` serves; returns once it takes its share.

        Pick one: ``canary=10`` (10% of requests, at random), ``ab=50, sticky_key=
        "customer_id"`` (50%, each customer always on one release) or ``shadow=True`` (a
        copy of every request; answers compared, never returned). Default: a 10% canary.
        Then :meth:`set_weight`, :meth:`promote`, :meth:`rollback` or :meth:`abort`.
        """
        chosen = [m for m, on in (("canary", canary is not None), ("ab", ab is not None),
                                  ("shadow", shadow)) if on]
        if len(chosen) > 1:
            raise InvalidRequest(f"choose one of canary, ab and shadow; got {chosen}")
        mode = RolloutMode(chosen[0]) if chosen else RolloutMode.canary
        weight = ab if ab is not None else (canary if canary is not None else 10)
        try:
            req = RolloutCreate(version=version, model=model, weight=0 if shadow else weight,
                                mode=mode, sticky_key=sticky_key,
                                override_reason=override_reason)
        except ValueError as e:
            raise InvalidRequest(f"invalid rollout: {e}") from e
        return self._follow(f"/v1/deployments/{name}/rollout", req.model_dump(mode="json"),
                            on_progress, timeout_s)

    def set_weight(self, name: str, weight: int, *, on_progress: Progress | None = None,
                   timeout_s: float | None = None) -> Deployment:
        """Give the candidate ``weight`` percent of the traffic (no replica restarts)."""
        try:
            body = RolloutUpdate(weight=weight).model_dump()
        except ValueError as e:
            raise InvalidRequest(f"invalid weight {weight!r}: it must be 0-100 ({e})") from e
        return self._follow(f"/v1/deployments/{name}/rollout", body, on_progress, timeout_s,
                            method="PATCH")

    def promote(self, name: str, *, reason: str | None = None,
                on_progress: Progress | None = None, timeout_s: float | None = None) -> Deployment:
        """The candidate takes all traffic; the old release is kept for :meth:`rollback`."""
        try:
            body = RolloutAction(reason=reason).model_dump() if reason else None
        except ValueError as e:
            raise InvalidRequest(f"invalid promote: {e}") from e
        return self._follow(f"/v1/deployments/{name}/promote", body, on_progress, timeout_s)

    def abort(self, name: str, *, on_progress: Progress | None = None,
              timeout_s: float | None = None) -> Deployment:
        """Stop the candidate; the serving release takes all traffic again."""
        return self._follow(f"/v1/deployments/{name}/abort", None, on_progress, timeout_s)

    def rollback(self, name: str, *, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> Deployment:
        """Back to the previous release at once (during a rollout: abort it)."""
        return self._follow(f"/v1/deployments/{name}/rollback", None, on_progress, timeout_s)

    def shadow_report(self, name: str) -> ShadowReportPublic:
        """How the shadow candidate's answers compare with those clients got."""
        return ShadowReportPublic.model_validate(
            self._request("GET", f"/v1/deployments/{name}/shadow"))

    # -- access -------------------------------------------------------------------------
    def whoami(self) -> PrincipalPublic:
        return PrincipalPublic.model_validate(self._request("GET", "/v1/whoami"))

    def teams(self) -> list[TeamPublic]:
        return [TeamPublic.model_validate(t) for t in self._request("GET", "/v1/teams")]

    def create_team(self, name: str, description: str = "") -> TeamPublic:
        body = TeamCreate(name=name, description=description).model_dump()
        return TeamPublic.model_validate(self._request("POST", "/v1/teams", json=body))

    def set_member(self, team: str, user: str, role: Role | str) -> TeamPublic:
        """Add ``user`` to ``team`` as ``role`` (viewer, deployer, admin), or change it."""
        body = MemberUpdate(role=Role(role)).model_dump(mode="json")
        return TeamPublic.model_validate(
            self._request("PUT", f"/v1/teams/{team}/members/{user}", json=body))

    def remove_member(self, team: str, user: str) -> None:
        self._request("DELETE", f"/v1/teams/{team}/members/{user}")

    def users(self) -> list[UserPublic]:
        return [UserPublic.model_validate(u) for u in self._request("GET", "/v1/users")]

    def create_user(self, name: str, *, is_admin: bool = False) -> UserPublic:
        body = UserCreate(name=name, is_admin=is_admin).model_dump()
        return UserPublic.model_validate(self._request("POST", "/v1/users", json=body))

    def update_user(self, name: str, *, is_admin: bool | None = None,
                    disabled: bool | None = None) -> UserPublic:
        """Platform admins: grant or take platform admin; disable a user (all its tokens are
        refused at once, predictions included) or enable it again."""
        body = UserUpdate(is_admin=is_admin, disabled=disabled).model_dump(exclude_none=True)
        return UserPublic.model_validate(self._request("PATCH", f"/v1/users/{name}", json=body))

    def create_token(self, *, user: str | None = None, description: str = "",
                     ttl_days: float | None = 90,
                     scope: TokenScope | str = TokenScope.all) -> TokenIssued:
        """A new API token (for yourself, or as a platform admin for ``user``); ``.token`` is
        the secret, returned only now. ``scope="predict"``: a token that can only predict
        (e.g. for a service calling a model). ``ttl_days=None`` (no expiry): admins only."""
        body = TokenCreate(user=user, description=description, ttl_days=ttl_days,
                           scope=TokenScope(scope)).model_dump(mode="json")
        return TokenIssued.model_validate(self._request("POST", "/v1/tokens", json=body))

    def tokens(self) -> list[TokenPublic]:
        return [TokenPublic.model_validate(t) for t in self._request("GET", "/v1/tokens")]

    def revoke_token(self, token_id: str) -> None:
        self._request("DELETE", f"/v1/tokens/{token_id}")

    def audit(self, *, actor: str | None = None, resource: str | None = None,
              team: str | None = None, action: str | None = None,
              limit: int = 100) -> list[AuditEventPublic]:
        """Audit events, newest first (admins: all; others: their teams')."""
        params = {k: v for k, v in {"actor": actor, "resource": resource, "team": team,
                                    "action": action, "limit": limit}.items() if v is not None}
        return [AuditEventPublic.model_validate(e)
                for e in self._request("GET", "/v1/audit", params=params)]

    def _handle(self, info: DeploymentPublic) -> Deployment:
        return Deployment(info, predict_timeout_s=self._settings.predict_timeout_s,
                          token=self._token)


class _Upload:
    """A file httpx streams from, reporting how much of it was sent."""

    def __init__(self, raw: Any, size: int, on_progress: Progress | None) -> None:
        self._raw, self._size, self._on_progress = raw, size, on_progress
        self._sent, self._shown = 0, -1

    def read(self, n: int = -1) -> bytes:
        chunk: bytes = self._raw.read(n)
        self._sent += len(chunk)
        percent = int(100 * self._sent / max(self._size, 1))
        if self._on_progress is not None and percent != self._shown:
            self._shown = percent
            self._on_progress(f"uploading the model ({self._size / 2**20:.1f} MiB)", percent)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        self._sent = 0
        return int(self._raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self._raw.tell())

    def fileno(self) -> int:
        return int(self._raw.fileno())


def _validation_message(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
                     for e in error.errors())


def _plain(value: Any) -> Any:
    """A DataFrame cell as a JSON value (NaN: None)."""
    import math

    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes)):
        value = item()
    return None if isinstance(value, float) and math.isnan(value) else value
