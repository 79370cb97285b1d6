"""Production monitoring as the API, the SDK and the scheduler use it.

Owns who may read reports, set thresholds and log outcomes (the policy table), what is
audited (thresholds changed, outcomes logged, alerts raised and resolved, automatic
rollbacks and step-ups with their numbers) and the monitoring job (``JobKind.monitor``,
through :class:`AuditedJobs`). The statistics are the monitoring capability's; the
rollbacks, step-ups and promotions of a canary analysis are the deployments' own traffic
jobs, started by the platform itself (``ferry``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ferry_contract import (
    AlertPublic,
    Conflict,
    FerryError,
    InvalidInput,
    InvalidRequest,
    JobKind,
    MonitoringReportPublic,
    MonitorPublic,
    MonitorUpdate,
    NotFound,
    OutcomesCreate,
    OutcomesPublic,
    RolloutMode,
    window_seconds,
)
from ferry_platform.access import SYSTEM, AccessService, Principal
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._deployments import Deployments
from ferry_platform.application._policy import Policy, resource
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.core import ReleaseManifest
from ferry_platform.evaluation import EvaluationService
from ferry_platform.jobs import JobContext
from ferry_platform.monitoring import (
    Monitor,
    ReleaseSpec,
    evaluate,
    label_kind,
    label_problem,
    sample_from_rows,
)
from ferry_platform.serving import ServingRuntime
from ferry_platform.store import AlertRecord, DeploymentRecord, JobRecord, MonitorStore, StateStore

log = logging.getLogger("ferry.monitoring")

AlertHook = Callable[[AlertPublic, str], None]
"""``hook(alert, event)``: ``event`` is ``opened`` or ``resolved``."""

METRICS_FN = "ferry_platform.evaluation._metrics:metrics_for"
"""The evaluation's metric set, by import path (the monitoring capability does not import
the evaluation's code; the job imports it where it runs)."""


OUTCOME_WAITERS = 4
"""Outcome calls that may wait at once for the prediction log's next flush."""


@dataclass(frozen=True)
class MonitoringPolicy:
    """The platform's monitoring settings (``FERRY_MONITOR_*``, ``FERRY_PREDICTION_LOG_*``)."""

    enabled: bool = True
    interval_s: float = 300.0
    window: str = "1h"
    retention_days: float = 30.0
    webhook_url: str = ""
    flush_s: float = 1.0
    outcome_lookback: timedelta = timedelta(days=7)


TIMELINE_POINTS: dict[str, int] = {"1h": 12, "6h": 12, "24h": 24, "7d": 28}
"""How many steps a view's window is cut into (other windows: 12)."""

VIEW_TTL_S = 15.0
"""How long a view's whole-window report and its current step are reused (seconds)."""
STEP_TTL_S = 300.0
"""How long a finished step's report is reused (its traffic no longer changes)."""


@dataclass(frozen=True)
class MonitoringView:
    """What a person looks at for one deployment (the portal's monitoring page): the report
    of the last ``window`` computed now, the same statistics for each step of it, oldest
    first (drift over time), its thresholds, and when the latest scheduled (or asked)
    report was computed, whose alerts are the open ones."""

    deployment: str
    window: str
    step: str
    report: MonitoringReportPublic
    timeline: list[MonitoringReportPublic]
    monitor: MonitorPublic
    latest_at: datetime | None


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds)}s"


def _now() -> datetime:
    return datetime.now(UTC)


def _public(a: AlertRecord) -> AlertPublic:
    return AlertPublic(id=a.id, deployment=a.deployment, model=a.model, release_id=a.release_id,
                       kind=a.kind, subject=a.subject, state=a.state,  # type: ignore[arg-type]
                       value=a.value, threshold=a.threshold, message=a.message, team=a.team,
                       opened_at=a.opened_at, updated_at=a.updated_at,
                       resolved_at=a.resolved_at)


class Monitoring:
    def __init__(self, *, policy: Policy, access: AccessService, audit: Audit,
                 jobs: AuditedJobs, deployments: Deployments, store: StateStore,
                 registry: CatalogRegistry, evaluation: EvaluationService | None,
                 monitor: Monitor, monitors: MonitorStore, runtime: ServingRuntime,
                 features: Any = None, settings: MonitoringPolicy | None = None,
                 lock: Callable[[str], AbstractContextManager[object]] | None = None) -> None:
        self._policy = policy
        self._access = access
        self._audit = audit
        self._jobs = jobs
        self._deployments = deployments
        self._store = store
        self._registry = registry
        self._evaluation = evaluation
        self.monitor = monitor
        self._monitors = monitors
        self._runtime = runtime
        self._features = features
        self.settings = settings or MonitoringPolicy()
        self._lock = lock or self._process_lock
        self._locks: dict[str, threading.Lock] = {}
        self._hooks: list[tuple[AlertHook, str | None, str | None]] = []
        self._webhook = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferry-webhook")
        self.webhook_failures = 0
        self._last_scheduled: dict[str, float] = {}
        self._views: OrderedDict[tuple[Any, ...], tuple[float, MonitoringReportPublic]] = \
            OrderedDict()
        self._views_lock = threading.Lock()
        # outcomes of requests answered a moment ago wait for the serving processes' next
        # flush: a few calls at once, never all of the server's request threads
        self._outcome_waits = threading.BoundedSemaphore(OUTCOME_WAITERS)

    @contextmanager
    def _process_lock(self, name: str) -> Iterator[None]:
        lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            yield

    # -- references (called when a release is built) ---------------------------------------
    def record_reference(self, manifest: ReleaseManifest) -> None:
        """Keep ``manifest``'s reference, once: the training sample its version was
        registered with, else its model's evaluation set (no predictions then). Never fails
        the deploy: a release without a reference is monitored without drift scores."""
        if not self.settings.enabled:
            return
        try:
            if self.monitor.has_reference(manifest.release_id):
                return
            signature = [(c.name, c.type) for c in manifest.signature]
            sample = self._registry.training_reference(manifest.model, manifest.version)
            source = "training"
            if sample is None and self._evaluation is not None:
                try:
                    meta, rows = self._evaluation.eval_set_rows(manifest.model)
                    sample = sample_from_rows(rows, signature, meta.get("label"))
                    source = f"evaluation set v{meta.get('version')}"
                except FerryError:
                    sample = None
            if sample is None:
                log.info("%s: no training sample nor evaluation set: monitored without a "
                         "reference", manifest.release_id)
                return
            digest = self.monitor.record_reference(
                release_id=manifest.release_id, model=manifest.model,
                version=manifest.version, signature=signature, sample=sample, source=source)
            log.info("%s: reference %s recorded (%s)", manifest.release_id, digest, source)
        except Exception as e:  # noqa: BLE001 - monitoring never fails a deploy
            log.warning("%s: could not record its monitoring reference: %s",
                        manifest.release_id, e)

    # -- who owns what ------------------------------------------------------------------------
    def _record(self, name: str) -> DeploymentRecord:
        record = self._store.get_deployment(name)
        if record is None:
            self._deployments.get(name)  # raises DeploymentNotFound naming what exists
        assert record is not None
        return record

    def _releases(self, record: DeploymentRecord) -> list[ReleaseManifest]:
        """The releases whose traffic a report of ``record`` covers: what it serves, a
        candidate, the previous one, and earlier releases of its models."""
        ids = [record.release_id, (record.rollout or {}).get("candidate"),
               record.previous_release_id]
        out: dict[str, ReleaseManifest] = {}
        for rid in ids:
            m = self._store.get_release(rid) if rid else None
            if m is not None:
                out[m.release_id] = m
        for model in {m.model for m in out.values()}:
            for m in self._store.list_releases(model, 20):
                out.setdefault(m.release_id, m)
        return list(out.values())

    def _spec(self, m: ReleaseManifest) -> ReleaseSpec:
        return self.monitor.release_spec(m.release_id, m.model, m.version,
                                         [(c.name, c.type) for c in m.signature])

    def require(self, who: Principal, action: str, name: str) -> None:
        """``who`` may do ``action`` on deployment ``name`` (404 for an unknown one)."""
        record = self._record(name)
        self._policy.require(who, action, resource=resource("deployment", name),
                             team=self._deployments.team_of(record))

    # -- thresholds ---------------------------------------------------------------------------
    def config(self, name: str) -> MonitorUpdate:
        record = self._monitors.get_monitor(name)
        return MonitorUpdate.model_validate(record.config if record else {})

    def get_monitor(self, name: str) -> MonitorPublic:
        self._record(name)
        record = self._monitors.get_monitor(name)
        return MonitorPublic(deployment=name, **self.config(name).model_dump(),
                             updated_at=record.updated_at if record else None,
                             updated_by=record.updated_by if record else None)

    def set_monitor(self, name: str, body: MonitorUpdate, who: Principal) -> MonitorPublic:
        """Change ``name``'s thresholds: the fields given replace the current ones, the
        others keep theirs (audited, with before and after)."""
        record = self._record(name)
        team = self._deployments.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "put_monitor", resource=res, team=team)
        before = self.config(name)
        after = MonitorUpdate.model_validate({**before.model_dump(),
                                              **body.model_dump(exclude_unset=True)})
        self._monitors.put_monitor(name, after.model_dump(mode="json"), who.user)
        self._audit(who, "put_monitor", res, [team], "succeeded",
                    {"from": before.model_dump(mode="json"),
                     "to": after.model_dump(mode="json")})
        return self.get_monitor(name)

    # -- outcomes -----------------------------------------------------------------------------
    def _label_rules(self, record: DeploymentRecord) -> tuple[str | None, list[Any] | None]:
        classes: list[Any] = []
        predictions: list[Any] = []
        for m in self._releases(record)[:3]:
            ref = self.monitor.reference(m.release_id) or {}
            classes += [c for c in ref.get("classes") or [] if c not in classes]
            # a reference from an evaluation set has the true labels, not the answers
            predictions += (ref.get("predictions") or ref.get("labels") or [])[:100]
        kind = label_kind(classes or None, predictions or None)
        return kind, classes or None

    def log_outcomes(self, name: str, body: OutcomesCreate, who: Principal) -> OutcomesPublic:
        """Join labels and business values to logged predictions by request id. Unknown
        request ids are counted and returned (the rest is recorded); a label the model
        cannot have is refused (422) naming each."""
        record = self._record(name)
        team = self._deployments.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "log_outcomes", resource=res, team=team)
        kind, classes = self._label_rules(record)
        problems: list[dict[str, Any]] = []
        for i, o in enumerate(body.outcomes):
            if o.label is None:
                continue
            why = label_problem(o.label, kind, classes)
            if why:
                problems.append({"row": i, "column": "label", "request_id": o.request_id,
                                 "problem": "wrong_type", "message":
                                 f"outcome {i} (request {o.request_id!r}): label {why}"})
        if problems:
            shown = "; ".join(p["message"] for p in problems[:5])
            raise InvalidInput(f"{len(problems)} outcome label(s) refused: {shown}. Nothing "
                               "was recorded; fix them and send the batch again.",
                               details={"problems": problems[:100]})
        models = sorted({m.model for m in self._releases(record)})
        keys = [(o.request_id, o.row) for o in body.outcomes]
        found = self.monitor.find(name, models, [k[0] for k in keys],
                                  self.settings.outcome_lookback)
        missing = [k for k in keys if k not in found]
        wait = self.settings.flush_s * 2 + 0.5
        if missing and self.monitor.active(models, 10 + wait) and \
                self._outcome_waits.acquire(blocking=False):
            # traffic flows now: those may have been answered a moment ago, still in the
            # serving processes' queues (flushed every FERRY_PREDICTION_LOG_FLUSH_S). With
            # OUTCOME_WAITERS calls waiting already, this one does not: its unknown ids
            # come back in the answer, to be sent again
            try:
                time.sleep(min(5.0, wait))
            finally:
                self._outcome_waits.release()
            found.update(self.monitor.find(name, models, [k[0] for k in missing],
                                           self.settings.outcome_lookback))
        rows, unknown = [], []
        for o in body.outcomes:
            hit = found.get((o.request_id, o.row))
            if hit is None:
                unknown.append(o.request_id)
                continue
            release_id, arm, _status = hit
            rows.append({"request_id": o.request_id, "row": o.row, "label": o.label,
                         "value": o.value, "release_id": release_id, "arm": arm})
        self.monitor.save_outcomes(name, rows)
        result = OutcomesPublic(deployment=name, received=len(body.outcomes),
                                recorded=len(rows), unknown=len(unknown),
                                unknown_request_ids=list(dict.fromkeys(unknown))[:100])
        self._audit(who, "log_outcomes", res, [team], "succeeded",
                    {"received": result.received, "recorded": result.recorded,
                     "unknown": result.unknown})
        return result

    # -- reports ------------------------------------------------------------------------------
    def run(self, name: str, window: str, who: Principal) -> JobRecord:
        """Start a monitoring report of ``name``'s last ``window`` (a job; its result is the
        report)."""
        record = self._record(name)
        team = self._deployments.team_of(record)
        res = resource("deployment", name)
        self._policy.require(who, "run_monitoring", resource=res, team=team)
        window_seconds(window)
        # alerts open and resolve (and so page people, start pipelines) only on a report
        # of someone who may act on the deployment: a viewer's report is only computed
        judge = self._policy.allows(who, "put_monitor", team=team)
        return self._submit(name, window, who, team, judge=judge)

    def _submit(self, name: str, window: str, who: Principal, team: str | None,
                scheduled: bool = False, judge: bool = True) -> JobRecord:
        def work(ctx: JobContext) -> dict[str, Any]:
            return self.report_now(name, window, ctx, scheduled=scheduled, judge=judge)

        return self._jobs.submit(
            who, JobKind.monitor, name, resource("deployment", name), [team],
            {"window": window, "scheduled": scheduled, "judged": judge}, work,
            summary=lambda r: {"alerts_opened": r.get("alerts_opened", []),
                               "alerts_resolved": r.get("alerts_resolved", [])})

    def latest(self, name: str) -> MonitoringReportPublic:
        """The latest report of ``name`` (scheduled or asked for)."""
        self._record(name)
        report = self._monitors.get_state(name).get("report")
        if not report:
            raise NotFound(f"no monitoring report of {name!r} yet; run one with "
                           f"client.monitoring({name!r}) or `ferry monitor {name}`",
                           details={"deployment": name})
        return MonitoringReportPublic.model_validate(self._with_alerts(name, report))

    def view(self, who: Principal, name: str, window: str = "1h",
             points: int | None = None) -> MonitoringView:
        """The report of ``name``'s last ``window`` and of each of its ``points`` steps
        (the same computation as the monitoring job, on the same log; finished steps are
        reused for a few minutes, the rest for seconds). Whoever may read the deployment's
        reports may see it."""
        self.require(who, "get_monitoring_report", name)
        try:
            seconds = window_seconds(window)
        except ValueError as e:
            raise InvalidRequest(str(e), details={"window": str(window)[:40]}) from None
        n = points or TIMELINE_POINTS.get(window, 12)
        if not 1 <= n <= 100:
            raise InvalidRequest(f"points={n}: a view has 1 to 100 steps")
        record = self._record(name)
        config = self.config(name)
        releases = self._releases(record)
        specs = [self._spec(m) for m in releases]
        thresholds = config.model_dump(mode="json")
        slices = list(config.slice_columns or self._slice_columns(releases))
        model = releases[0].model if releases else ""
        key = (name, tuple(sorted(s.release_id for s in specs)),
               json.dumps(thresholds, sort_keys=True), tuple(slices))

        def compute(start: datetime, end: datetime, label: str, ttl: float,
                    tag: tuple[Any, ...]) -> MonitoringReportPublic:
            """One report, reused while fresh (``tag``: which step or window it is; the
            current ones are named without ``now``, so a reload within ``ttl`` reuses them)."""
            at = time.monotonic()
            with self._views_lock:
                hit = self._views.get((*key, *tag))
                if hit is not None and hit[0] > at:
                    return hit[1]
            raw = self.monitor.report(deployment=name, window=label, start=start, end=end,
                                      releases=specs, thresholds=thresholds,
                                      slice_columns=slices)
            found = MonitoringReportPublic.model_validate({
                "deployment": name, "model": model, "window": label, "start": start,
                "end": end, "generated_at": _now(), "releases": raw.get("releases", []),
                "business_value": raw.get("business_value", []),
                "notes": self._notes(raw, record), "files": int(raw.get("files", 0)),
                "computed_on": list(raw.get("computed_on", []))})
            with self._views_lock:
                self._views[(*key, *tag)] = (at + ttl, found)
                while len(self._views) > 2000:
                    self._views.popitem(last=False)
            return found

        now = _now()
        step = seconds / n
        edge = math.ceil(now.timestamp() / step) * step  # steps end on multiples of step
        timeline = []
        for i in range(n, 0, -1):
            end = datetime.fromtimestamp(edge - (i - 1) * step, UTC)
            start = end - timedelta(seconds=step)
            timeline.append(compute(start, min(end, now), _duration(step),
                                    STEP_TTL_S if end <= now else VIEW_TTL_S,
                                    ("step", start, end)))
        report = compute(now - timedelta(seconds=seconds), now, window, VIEW_TTL_S,
                         ("window", window))
        report = report.model_copy(update={"alerts": [
            _public(a) for a in self._monitors.alerts(deployment=name, state="open")]})
        return MonitoringView(deployment=name, window=window, step=_duration(step),
                              report=report, timeline=timeline,
                              monitor=self.get_monitor(name),
                              latest_at=self._monitors.get_state(name).get("report_at"))

    def _with_alerts(self, name: str, report: dict[str, Any]) -> dict[str, Any]:
        alerts = [_public(a).model_dump(mode="json")
                  for a in self._monitors.alerts(deployment=name, state="open")]
        return {**{k: v for k, v in report.items() if k in MonitoringReportPublic.model_fields},
                "alerts": alerts}

    def report_now(self, name: str, window: str, ctx: JobContext | None = None,
                   scheduled: bool = False, judge: bool = True) -> dict[str, Any]:
        """Compute, record and judge one report (the monitoring job's work). Without
        ``judge`` (a viewer asked), only compute it: no alert opens or resolves and the
        deployment's latest report stays."""
        say = ctx.step if ctx else (lambda _m, _p: None)
        record = self._record(name)
        end = _now()
        start = end - timedelta(seconds=window_seconds(window))
        config = self.config(name)
        say(f"reading {name}'s prediction log for the last {window}", 10)
        releases = self._releases(record)
        slices = list(config.slice_columns or self._slice_columns(releases))
        raw = self.monitor.report(
            deployment=name, window=window, start=start, end=end,
            releases=[self._spec(m) for m in releases],
            thresholds=config.model_dump(mode="json"), slice_columns=slices)
        say(f"comparing {len(raw.get('releases', []))} release(s) with their references", 60)
        self._skew(releases, raw, start, end, name)
        report = {"deployment": name, "model": releases[0].model if releases else "",
                  "window": window, "start": start.isoformat(), "end": end.isoformat(),
                  "generated_at": _now().isoformat(), "releases": raw.get("releases", []),
                  "business_value": raw.get("business_value", []),
                  "notes": self._notes(raw, record), "files": int(raw.get("files", 0)),
                  "computed_on": list(raw.get("computed_on", []))}
        if not judge:
            report["notes"].append("computed for a viewer: alerts were not evaluated and "
                                   "the deployment's latest report was kept")
        MonitoringReportPublic.model_validate(report)  # the job returns only what validates
        opened: list[int] = []
        resolved: list[int] = []
        if judge:
            say("evaluating alerts", 85)
            opened, resolved = self._judge(name, record, report, config)
            self._monitors.put_report(name, report)
        if scheduled:
            try:
                gone = self.monitor.prune(self.settings.retention_days)
                if gone:
                    log.info("deleted %d prediction log hour(s) past the retention", gone)
            except Exception as e:  # noqa: BLE001 - housekeeping; the next run tries again
                log.warning("pruning the prediction log failed: %s", e)
        say(f"{name}: {len(opened)} alert(s) opened, {len(resolved)} resolved", 100)
        return {**self._with_alerts(name, report), "alerts_opened": opened,
                "alerts_resolved": resolved}

    def _notes(self, raw: dict[str, Any], record: DeploymentRecord) -> list[str]:
        notes = []
        if not raw.get("releases"):
            notes.append("no logged traffic in this window")
        if not self.settings.enabled:
            notes.append("monitoring is off on this platform (FERRY_MONITORING=false)")
        return notes

    def _slice_columns(self, releases: list[ReleaseManifest]) -> list[str]:
        if self._evaluation is None or not releases:
            return []
        try:
            sets = self._evaluation.eval_sets(releases[0].model)
        except FerryError:
            return []
        return [sets[0].slice_column] if sets and sets[0].slice_column else []

    def _skew(self, releases: list[ReleaseManifest], raw: dict[str, Any], start: datetime,
              end: datetime, name: str) -> None:
        """Feature-backed releases: the served feature values of a sample of the window's
        requests against the offline store's, point-in-time, for the same entity."""
        if self._features is None:
            return
        by_id = {m.release_id: m for m in releases}
        for rel in raw.get("releases", []):
            m = by_id.get(rel["release_id"])
            if m is None:
                continue
            try:
                version = self._registry.get_version(m.model, m.version)
                if not version.feature_refs:
                    continue
                rel["skew"], note = skew(self.monitor, self._features, name, m,
                                         version.feature_refs, start, end)
                if note:
                    rel.setdefault("notes", []).append(note)
            except Exception as e:  # noqa: BLE001 - a report without skew is still a report
                rel.setdefault("notes", []).append(f"training-serving skew not measured: "
                                                   f"{type(e).__name__}: {str(e)[:200]}")

    # -- alerts -------------------------------------------------------------------------------
    def on_alert(self, hook: AlertHook, *, model: str | None = None,
                 kind: str | None = None) -> Callable[[], None]:
        """Call ``hook(alert, "opened" | "resolved")`` in this process for alerts of
        ``model`` and ``kind`` (None: any), e.g. to retrain on ``churn:drift``. Returns a
        function that removes the hook."""
        entry = (hook, model, kind)
        self._hooks.append(entry)
        return lambda: self._hooks.remove(entry) if entry in self._hooks else None

    def alerts(self, who: Principal, *, deployment: str | None = None,
               state: str | None = "open", limit: int = 100, team: str | None = None,
               before: int | None = None) -> list[AlertPublic]:
        """Alerts of the caller's teams (platform admins: all), newest first; ``team``:
        only that one of them; ``before``: ids below it (the next page)."""
        teams = self._policy.readable_teams(who)
        if team is not None:
            teams = [team] if teams is None or team in teams else []
        return [_public(a) for a in self._monitors.alerts(
            deployment=deployment, state=state, teams=teams, limit=limit, before=before)]

    def _judge(self, name: str, record: DeploymentRecord, report: dict[str, Any],
               config: MonitorUpdate) -> tuple[list[int], list[int]]:
        firing, judged = evaluate(report, config.model_dump(mode="json"))
        team = self._deployments.team_of(record)
        live = {r for r in (record.release_id, (record.rollout or {}).get("candidate")) if r}
        model = report.get("model") or ""
        opened, resolved = [], []
        with self._lock(f"monitor-alerts-{name}"):
            current = {(a.kind, a.subject, a.release_id or ""): a
                       for a in self._monitors.alerts(deployment=name, state="open",
                                                      limit=10_000)}
            for c in firing:
                have = current.get(c.key)
                if have is not None:
                    self._monitors.update_alert(have.id, c.value, c.message)
                    continue
                alert = self._monitors.open_alert(
                    deployment=name, model=model, release_id=c.release_id, kind=c.kind,
                    subject=c.subject, value=c.value, threshold=c.threshold,
                    message=c.message, team=team)
                opened.append(alert.id)
                self._raised(alert, "opened")
            holding = {c.key for c in firing}
            for key, alert in current.items():
                cleared = key in judged and key not in holding
                retired = alert.release_id not in live  # no longer served by this deployment
                if cleared or retired:
                    why = "the condition cleared" if cleared else \
                        f"{alert.release_id} no longer serves {name}"
                    done = self._monitors.resolve_alert(alert.id, f"{alert.message} — "
                                                        f"resolved: {why}")
                    if done is not None:
                        resolved.append(done.id)
                        self._raised(done, "resolved")
        return opened, resolved

    def _raised(self, alert: AlertRecord, event: str) -> None:
        """Audit an alert opened or resolved, send it to the webhook, call the hooks."""
        public = _public(alert)
        self._audit(SYSTEM, f"alert.{event}", resource("deployment", alert.deployment),
                    [alert.team], "ok",
                    {"alert": alert.id, "kind": alert.kind, "subject": alert.subject,
                     "release_id": alert.release_id, "value": alert.value,
                     "threshold": alert.threshold, "message": alert.message[:500]})
        if self.settings.webhook_url:
            self._webhook.submit(self._send, public, event)
        for hook, model, kind in list(self._hooks):
            if (model is None or model == alert.model) and (kind is None or kind == alert.kind):
                try:
                    hook(public, event)
                except Exception as e:  # noqa: BLE001 - a hook must not stop the others
                    log.warning("an alert hook failed on alert %s: %s", alert.id, e)

    def _send(self, alert: AlertPublic, event: str) -> None:
        import httpx

        try:
            r = httpx.post(self.settings.webhook_url, timeout=10.0,
                           json={"event": event, "alert": alert.model_dump(mode="json")})
            r.raise_for_status()
        except Exception as e:  # noqa: BLE001 - counted and logged, never fatal
            self.webhook_failures += 1
            log.warning("the alert webhook (FERRY_ALERT_WEBHOOK_URL) failed for alert %s: "
                        "%s", alert.id, type(e).__name__)

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        """Wait until the webhook calls queued so far are done (tests, shutdown)."""
        self._webhook.submit(lambda: None).result(timeout=timeout)

    # -- the scheduler ------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """What the platform's monitoring thread does every second: canary checks that are
        due, and the scheduled report of each deployment every FERRY_MONITOR_INTERVAL_S."""
        if not self.settings.enabled:
            return
        now = time.monotonic() if now is None else now
        for record in self._store.list_deployments():
            try:
                self.canary_tick(record)
            except Exception as e:  # noqa: BLE001 - one deployment must not stop the rest
                log.warning("%s: canary analysis failed: %s", record.name, e)
            if self.settings.interval_s <= 0:
                continue
            last = self._last_scheduled.get(record.name)
            if last is not None and now - last < self.settings.interval_s:
                continue
            report_at = self._monitors.get_state(record.name).get("report_at")
            self._last_scheduled[record.name] = now
            if report_at is None and last is None:
                continue  # first seen (a new deployment, a fresh start): one interval first
            if report_at is not None and \
                    (_now() - report_at).total_seconds() < self.settings.interval_s:
                continue  # another control-plane process ran it
            try:
                self._submit(record.name, self.settings.window, SYSTEM,
                             self._deployments.team_of(record), scheduled=True)
            except Exception as e:  # noqa: BLE001
                log.warning("%s: the scheduled monitoring job did not start: %s",
                            record.name, e)

    # -- canary analysis ----------------------------------------------------------------------
    def canary_tick(self, record: DeploymentRecord, now: datetime | None = None,
                    ) -> dict[str, Any] | None:
        """One check of ``record``'s rollout if one is due: with enough requests, a failed
        check counts toward a rollback, a passed one steps the weight up (or promotes)."""
        rollout = record.rollout or {}
        if rollout.get("mode") not in (RolloutMode.canary.value, RolloutMode.ab.value):
            return None
        analysis = self.config(record.name).canary_analysis
        if analysis is None:
            return None
        now = now or _now()
        with self._lock(f"canary-{record.name}"):
            state = dict(self._monitors.get_state(record.name).get("canary") or {})
            candidate, weight = rollout.get("candidate"), int(rollout.get("weight", 0))
            started = rollout.get("started_at")
            if (state.get("candidate"), state.get("rollout")) != (candidate, started):
                state = {"candidate": candidate, "rollout": started, "failures": 0,
                         "passes": 0, "checks": [], "started_at": now.isoformat()}
            if state.get("weight") != weight or state.get("job_id") != record.job_id:
                # a new step (ours or a person's): count only the traffic from here on
                state.update(weight=weight, job_id=record.job_id,
                             step_started_at=now.isoformat())
            if state.get("action"):
                if not self._action_done(state):
                    return None  # a rollback, step-up or promote of ours is still running
                state.pop("action")
            last = state.get("last_check_at")
            if last and (now - datetime.fromisoformat(last)).total_seconds() < \
                    analysis.interval_s:
                self._monitors.put_canary(record.name, state)
                return None
            stable = self._store.get_release(record.release_id)
            cand = self._store.get_release(candidate) if candidate else None
            if stable is None or cand is None:
                return None
            result = self.monitor.canary(
                deployment=record.name, stable=self._spec(stable), candidate=self._spec(cand),
                since=datetime.fromisoformat(state["step_started_at"]),
                config=analysis.model_dump(mode="json"), now=now)
            state["last_check_at"] = now.isoformat()
            result["at"] = now.isoformat()
            result["weight"] = weight
            state["checks"] = (state.get("checks") or [])[-19:] + [result]
            if result["verdict"] == "failed":
                state["failures"] = int(state.get("failures", 0)) + 1
            elif result["verdict"] == "passed":
                state["passes"] = int(state.get("passes", 0)) + 1
            action = self._act(record, analysis, state, result)
            if action is not None:
                state["action"] = action
            self._monitors.put_canary(record.name, state)
            return result

    def _action_done(self, state: dict[str, Any]) -> bool:
        job = self._jobs.store.get(state["action"]["job"])
        return job is None or job.state in ("succeeded", "failed")

    def _act(self, record: DeploymentRecord, analysis: Any, state: dict[str, Any],
             result: dict[str, Any]) -> dict[str, Any] | None:
        name = record.name
        numbers = {"canary_analysis": {
            "verdict": result["verdict"], "reason": result.get("reason", ""),
            "failures": state.get("failures", 0), "checks": result.get("checks", []),
            "stable": result.get("stable"), "candidate": result.get("candidate"),
            "weight": result.get("weight")}}
        team = self._deployments.team_of(record)
        try:
            if result["verdict"] == "failed" and state["failures"] >= analysis.failures:
                job = self._deployments.rollback(name, SYSTEM, details=numbers)
                self._audit(SYSTEM, "canary_analysis.rollback", resource("deployment", name),
                            [team], "accepted", {**numbers, "job": job.id})
                log.warning("%s: canary analysis rolled %s back after %d failed check(s): %s",
                            name, state["candidate"], state["failures"], result.get("reason"))
                return {"kind": "rollback", "job": job.id}
            if result["verdict"] != "passed":
                return None
            weight = int(result.get("weight", 0))
            higher = [s for s in analysis.steps if s > weight]
            if higher:
                job = self._deployments.set_weight(name, higher[0], SYSTEM, details=numbers)
                self._audit(SYSTEM, "canary_analysis.step", resource("deployment", name),
                            [team], "accepted", {**numbers, "to_weight": higher[0],
                                                 "job": job.id})
                return {"kind": "step", "job": job.id, "to": higher[0]}
            if analysis.promote and not state.get("promote_failed"):
                job = self._deployments.promote(name, SYSTEM, details=numbers)
                self._audit(SYSTEM, "canary_analysis.promote", resource("deployment", name),
                            [team], "accepted", {**numbers, "job": job.id})
                return {"kind": "promote", "job": job.id}
        except Conflict as e:  # another change of this deployment runs: the next check acts
            log.info("%s: canary analysis waits: %s", name, e.message)
        except FerryError as e:
            log.warning("%s: canary analysis could not act: %s", name, e.message)
            if result["verdict"] == "passed" and analysis.promote:
                state["promote_failed"] = e.message
        return None

    def canary_state(self, name: str) -> dict[str, Any] | None:
        return self._monitors.get_state(name).get("canary")

    # -- service metrics ----------------------------------------------------------------------
    def metrics(self) -> bytes:
        """The Prometheus exposition of the data plane's counts and monitoring's gauges."""
        from ferry_platform.application._metrics import render

        snapshot: dict[str, Any] = {}
        try:
            snapshot = dict(self._runtime.data_plane_metrics())
        except Exception as e:  # noqa: BLE001 - the gauges still render
            log.debug("no data-plane metrics: %s", e)
        reports = {}
        for record in self._store.list_deployments():
            report = self._monitors.get_state(record.name).get("report")
            if report:
                reports[record.name] = report
        open_alerts = self._monitors.alerts(state="open", limit=100_000)
        return render(snapshot, reports, open_alerts, self.webhook_failures)


def skew(monitor: Monitor, features: Any, deployment: str, manifest: ReleaseManifest,
         refs: list[str], start: datetime, end: datetime,
         rows: int = 200) -> tuple[list[dict[str, Any]], str | None]:
    """Served feature values of up to ``rows`` logged requests against the offline store's
    for the same entity and time (``training_set``: point-in-time)."""
    import numpy as np
    import pandas as pd

    from ferry_platform.core import predlog as P  # noqa: N812

    store = getattr(monitor, "logs", None)
    if store is None:
        return [], None
    files = store.files([manifest.model], start, end, [manifest.release_id])
    table = store.read(files[-50:], deployment=deployment, start=start, end=end)
    if not len(table):
        return [], None
    frame = table.to_pandas()
    frame = frame[frame[P.STATUS] == 200]
    names = [r.split(":", 1)[1] for r in refs]
    logged = {c.removeprefix(P.INPUT_PREFIX) for c in frame.columns if c.startswith(P.INPUT_PREFIX)}
    try:  # the views' join keys, whether or not the model also takes one as an input
        keys = [k for k in features.join_key_types(refs) if k in logged]
    except Exception:  # noqa: BLE001 - a store without it: the logged columns no input names
        keys = sorted(logged - set(names) - {s.name for s in manifest.signature})
    if not keys:
        return [], "training-serving skew not measured: the log holds no entity keys"
    frame = frame.sample(n=min(rows, len(frame)), random_state=0)
    entities = pd.DataFrame({k: frame[P.input_column(k)].tolist() for k in keys})
    entities["event_timestamp"] = pd.to_datetime(frame[P.TS].tolist(), utc=True)
    offline = features.training_set(refs, entities).frame
    out = []
    for name in names:
        served = frame[P.input_column(name)].to_numpy() if P.input_column(name) in frame \
            else None
        if served is None or name not in offline.columns:
            continue
        theirs = offline[name].to_numpy()
        both = [(a, b) for a, b in zip(served, theirs, strict=True)
                if a is not None and b is not None and not (isinstance(a, float) and np.isnan(a))
                and not (isinstance(b, float) and np.isnan(b))]
        if not both:
            out.append({"column": name, "compared": 0})
            continue
        try:
            diffs = np.abs(np.array([float(a) for a, _ in both]) -
                           np.array([float(b) for _, b in both]))
            mismatch = float(np.mean(diffs > 1e-9 * (1 + np.abs(
                np.array([float(b) for _, b in both])))))
            out.append({"column": name, "compared": len(both), "mismatch_rate": mismatch,
                        "mean_abs_diff": float(diffs.mean())})
        except (TypeError, ValueError):
            mismatch = float(np.mean([str(a) != str(b) for a, b in both]))
            out.append({"column": name, "compared": len(both), "mismatch_rate": mismatch})
    return out, None
