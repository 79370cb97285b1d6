"""What the data plane records of each request, in functions of their own so the router and
the release replica call them in one line each.

- The router (:class:`RouterMonitor`) gives each request its id (the client's
  ``x-request-id`` if it is a sane token, else a new one), knows which arm the chosen
  release is (stable, canary, a, b, shadow: from its routes), passes both to the release
  (:data:`Context`) and counts the answer (status, latency) for the service metrics.
- The release (:class:`ReleaseMonitor`) writes the request to the prediction log: its
  input rows (the features Ferry joined included), answers, probabilities, latency and
  outcome, or the refusal (and counts refused columns by reason).

Nothing here may fail or slow a prediction: every call is guarded and does O(1) work on
the request's path (the log's conversion happens in its background thread).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from ferry_contract import (
    CLIENT_REQUEST_ID_HEADER,
    REQUEST_ID_PATTERN,
    FerryError,
)
from ferry_platform.serving._metrics import ProcessMetrics, process_metrics
from ferry_platform.serving._predlog import Entry, PredictionLog, ReleaseInfo, shared

log = logging.getLogger("ferry.monitor")

Context = dict[str, str]
"""``{"id": request id, "arm": arm, "deployment": name}``, from the router to the release."""

_SANE = re.compile(REQUEST_ID_PATTERN)
_RELEASE_ID = re.compile(r"(?P<model>.+)-v(?P<version>\d{1,9})-[0-9a-f]+")
"""``{model}-v{version}-{digest}``: what a release id says of its model and version."""


def request_id(given: str | None) -> str:
    """The client's id when it is a sane token (letters, digits, ``._:-``, ≤ 64), else new."""
    if given and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RouterMonitor:
    """A router's side: request ids, arms, and the answered-request counts."""

    def __init__(self, name: str, metrics: ProcessMetrics | None = None,
                 log_: PredictionLog | None = None) -> None:
        self.name = name
        self._arms: dict[str, str] = {}
        self._metrics = metrics or process_metrics()
        self._log = log_

    def configure(self, config: dict[str, Any]) -> None:
        """The arms of the routes in a router's ``user_config`` (``arm`` of each route; a
        route without one is ``stable`` when alone, else the heaviest is)."""
        try:
            routes = [r for r in config.get("routes", []) if r.get("weight", 0) > 0]
            arms = {r["release_id"]: r["arm"] for r in routes if r.get("arm")}
            if routes and len(arms) < len(routes):
                heaviest = max(routes, key=lambda r: r.get("weight", 0))["release_id"]
                for r in routes:
                    arms.setdefault(r["release_id"],
                                    "stable" if r["release_id"] == heaviest else "canary")
            shadow = config.get("shadow")
            if shadow:
                arms[shadow["release_id"]] = "shadow"
            self._arms = arms
        except Exception as e:  # noqa: BLE001 - arms are labels; never refuse a config
            log.warning("%s: cannot read the arms of the routes: %s", self.name, e)

    def arm(self, release_id: str) -> str:
        return self._arms.get(release_id, "stable")

    def begin(self, header: Callable[[str], str | None]) -> tuple[str, float]:
        """The request's id (from ``header(name)``) and its start time."""
        try:
            given = header(CLIENT_REQUEST_ID_HEADER)
        except Exception:  # noqa: BLE001
            given = None
        return request_id(given), time.perf_counter()

    def context(self, rid: str, release_id: str, shadow: bool = False) -> Context:
        return {"id": rid, "arm": "shadow" if shadow else self.arm(release_id),
                "deployment": self.name}

    def unanswered(self, ctx: Context, release_id: str, started: float,
                   error: FerryError) -> None:
        """Log a request the release never answered (its replica died, timed out or
        raised past its own handling): the release could not log it, and a canary that
        crashes must count as failing in the reports and the canary analysis."""
        try:
            found = _RELEASE_ID.fullmatch(release_id)
            log_ = self._log or shared()
            if found is None or not log_.config.enabled or not log_.sampled():
                return
            info = ReleaseInfo(found["model"], int(found["version"]), release_id, ())
            log_.record(Entry(
                release=info, ts=time.time(), request_id=ctx["id"],
                deployment=ctx["deployment"], arm=ctx["arm"], status=error.status,
                latency_ms=(time.perf_counter() - started) * 1000, rows=1,
                code=error.code))
        except Exception as e:  # noqa: BLE001 - logging must never fail an answer
            log.debug("prediction log: %s", e)

    def done(self, release_id: str, status: int, started: float,
             code: str | None = None) -> None:
        """Count one answered request (after the answer is built)."""
        try:
            self._metrics.request(self.name, release_id or "-", self.arm(release_id)
                                  if release_id else "-", status,
                                  time.perf_counter() - started,
                                  code if status >= 400 else None)
        except Exception as e:  # noqa: BLE001
            log.debug("metrics: %s", e)


UNEXPECTED_COLUMN = "(not in the signature)"
"""The ``column`` of refusals counted for a column the model does not have."""


def _problems(e: FerryError) -> list[tuple[str, str]] | None:
    raw = (e.details or {}).get("problems")
    if not isinstance(raw, list):
        return None
    out = []
    for p in raw:
        if isinstance(p, dict):
            problem = str(p.get("problem", "invalid"))[:40]
            # a column the signature lacks is a name the client chose: one label for all
            # (a metric label per name would grow without end, as a client likes)
            column = UNEXPECTED_COLUMN if problem == "unexpected" else \
                p.get("column") or p.get("feature_ref") or "-"
            out.append((str(column)[:100], problem))
    return out or None


class ReleaseMonitor:
    """A release's side: one prediction-log entry per request (sampled)."""

    def __init__(self, model: str, version: int, release_id: str,
                 inputs: Sequence[tuple[str, str]], log_: PredictionLog | None = None,
                 metrics: ProcessMetrics | None = None) -> None:
        self.info = ReleaseInfo(model, version, release_id, tuple(inputs))
        self._log = log_ or shared()
        self._metrics = metrics or process_metrics()
        self.enabled = self._log.config.enabled

    def _context(self, ctx: Context | None) -> Context:
        if ctx:
            return ctx
        return {"id": uuid.uuid4().hex, "arm": "stable", "deployment": self.info.model}

    def answered(self, ctx: Context | None, started: float, columns: dict[str, Any] | None,
                 predictions: Sequence[Any], probabilities: Any = None,
                 classes: Sequence[Any] | None = None,
                 misses: list[list[str]] | None = None) -> None:
        if not self.enabled:
            return
        try:
            if not self._log.sampled():
                return
            c = self._context(ctx)
            self._log.record(Entry(
                release=self.info, ts=time.time(), request_id=c["id"],
                deployment=c["deployment"], arm=c["arm"], status=200,
                latency_ms=(time.perf_counter() - started) * 1000, rows=len(predictions),
                columns=columns, predictions=predictions, probabilities=probabilities,
                classes=classes, lookup_misses=misses))
        except Exception as e:  # noqa: BLE001 - logging must never fail a prediction
            log.debug("prediction log: %s", e)

    def failed(self, ctx: Context | None, started: float, error: FerryError,
               columns: dict[str, Any] | None = None) -> None:
        try:
            c = self._context(ctx)
            problems = _problems(error) if error.status == 422 else None
            if problems:
                self._metrics.refused(c["deployment"], self.info.release_id, problems)
            if not self.enabled or not self._log.sampled():
                return
            if error.status < 500:  # refused: its values broke the signature (see problems)
                columns = None
            rows = len(next(iter(columns.values()))) if columns else 1
            self._log.record(Entry(
                release=self.info, ts=time.time(), request_id=c["id"],
                deployment=c["deployment"], arm=c["arm"], status=error.status,
                latency_ms=(time.perf_counter() - started) * 1000, rows=rows,
                columns=columns, code=error.code, problems=problems))
        except Exception as e:  # noqa: BLE001
            log.debug("prediction log: %s", e)
