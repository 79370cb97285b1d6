"""``client.monitoring``: production traffic watched per release — outcomes joined by
request id, reports of a window (and their picture), thresholds, alerts, service metrics."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from ferry._monitoring import MonitoringReport
from ferry._transport import Progress, Transport, validation_message
from ferry_contract import (
    MAX_OUTCOMES,
    AlertPublic,
    InvalidRequest,
    MonitoringReportPublic,
    MonitoringRun,
    MonitorPublic,
    MonitorUpdate,
    OutcomesCreate,
    OutcomesPublic,
    error_from_body,
)


def _plain(value: Any) -> Any:
    """A DataFrame cell as a JSON value (NaN: None)."""
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes)):
        value = item()
    return None if isinstance(value, float) and math.isnan(value) else value


class Monitoring:
    """What a deployment's traffic shows against the training data of each release.

    Calling it is :meth:`report`: ``client.monitoring("churn", window="1h")``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __call__(self, name: str, window: str = "1h", *, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> MonitoringReport:
        """:meth:`report`: the report of ``name``'s last ``window``, computed now."""
        return self.report(name, window, on_progress=on_progress, timeout_s=timeout_s)

    def log_outcomes(self, name: str, outcomes: Any) -> OutcomesPublic:
        """Labels and business values of answered requests, known later: a list of
        ``{"request_id", "label", "value", "row"}`` (or a DataFrame of those columns;
        ``label`` or ``value`` may be missing). Joined to the logged predictions of ``name``
        by request id (``Prediction.request_id``); unknown ids are counted and returned, a
        label the model cannot have is refused (422) naming it."""
        import pandas as pd

        if isinstance(outcomes, pd.DataFrame):
            outcomes = [{k: _plain(v) for k, v in row.items() if _plain(v) is not None}
                        for row in outcomes.to_dict("records")]
        items = list(outcomes)
        total = OutcomesPublic(deployment=name, received=0, recorded=0, unknown=0)
        for start in range(0, max(1, len(items)), MAX_OUTCOMES):
            try:
                body = OutcomesCreate.model_validate(
                    {"outcomes": items[start:start + MAX_OUTCOMES]})
            except ValidationError as e:
                raise InvalidRequest(f"invalid outcomes: {validation_message(e)}") from e
            done = OutcomesPublic.model_validate(self._transport.request(
                "POST", f"/v1/deployments/{name}/outcomes",
                json=body.model_dump(mode="json", exclude_unset=True)))
            total = OutcomesPublic(
                deployment=name, received=total.received + done.received,
                recorded=total.recorded + done.recorded, unknown=total.unknown + done.unknown,
                unknown_request_ids=(total.unknown_request_ids + done.unknown_request_ids)[:100])
        return total

    def report(self, name: str, window: str = "1h", *, on_progress: Progress | None = None,
               timeout_s: float | None = None) -> MonitoringReport:
        """The monitoring report of ``name``'s last ``window`` (e.g. ``"15m"``, ``"1h"``,
        ``"7d"``), computed now: per release, drift per feature and of the predictions,
        fragility, slice and model metrics once outcomes arrived, latency and errors,
        business value per arm, open alerts. ``report.plot("drift.png")`` draws it."""
        try:
            body = MonitoringRun(window=window).model_dump()
        except ValidationError as e:
            raise InvalidRequest(f"cannot monitor {name!r}: {validation_message(e)}") from e
        done = self._transport.run_job("POST", f"/v1/deployments/{name}/monitoring", body,
                                       on_progress=on_progress, timeout_s=timeout_s)
        return MonitoringReport(MonitoringReportPublic.model_validate(
            {k: v for k, v in (done.result or {}).items()
             if k in MonitoringReportPublic.model_fields}))

    def latest(self, name: str) -> MonitoringReport:
        """The latest report of ``name`` (the scheduled one, or the last asked for)."""
        return MonitoringReport(MonitoringReportPublic.model_validate(
            self._transport.request("GET", f"/v1/deployments/{name}/monitoring")))

    def monitor(self, name: str) -> MonitorPublic:
        """``name``'s monitoring thresholds."""
        return MonitorPublic.model_validate(
            self._transport.request("GET", f"/v1/deployments/{name}/monitor"))

    def set_monitor(self, name: str, **fields: Any) -> MonitorPublic:
        """Set monitoring thresholds of ``name`` (the fields given; the others stay):
        ``drift_threshold``, ``drift_method``, ``null_rate_max``, ``out_of_range_max``,
        ``unseen_category_max``, ``slice_gap_max``, ``slice_columns``, ``error_rate_max``,
        ``p99_ms_max``, ``min_rows``, and ``canary_analysis={"max_error_rate": 0.02,
        "max_p99_ms": 100, "min_requests": 200, "steps": [25, 50], "promote": True}``."""
        try:
            body = MonitorUpdate.model_validate(fields)
        except ValidationError as e:
            raise InvalidRequest(f"invalid monitor of {name!r}: "
                                 f"{validation_message(e)}") from e
        return MonitorPublic.model_validate(self._transport.request(
            "PUT", f"/v1/deployments/{name}/monitor",
            json=body.model_dump(mode="json", exclude_unset=True)))

    def alerts(self, deployment: str | None = None, *, state: str = "open",
               limit: int = 100, before: int | None = None) -> list[AlertPublic]:
        """Alerts (open by default; ``state="all"`` or ``"resolved"``), newest first; the
        next page with ``before`` (the id of the last alert seen)."""
        params = {k: v for k, v in {"deployment": deployment, "state": state,
                                    "limit": limit, "before": before}.items()
                  if v is not None}
        return [AlertPublic.model_validate(a)
                for a in self._transport.request("GET", "/v1/alerts", params=params)]

    def metrics(self) -> str:
        """The platform's service metrics in Prometheus' text format."""
        resp = self._transport.http.get("/v1/metrics")
        if resp.status_code >= 400:
            raise error_from_body(resp.json(), status=resp.status_code)
        return resp.text
