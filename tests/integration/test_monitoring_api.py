"""Monitoring through the API on a real control plane (database, application layer, jobs,
policy, audit) with fakes for MLflow/BentoML/Ray: the prediction log is written by the real
writer, as the serving processes write it. Thresholds, outcomes (unknown ids, wrong
labels), the report job, alerts (webhook, in-process hooks, resolved when the condition
clears), canary analysis (automatic rollback with its numbers; step-up and promotion) and
the Prometheus text."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _control_plane import Env, alpha_v1, alpha_v2
from _synth import signal

from ferry_contract import InvalidInput, InvalidRequest
from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Webhook:
    """A local HTTP server recording the alerts POSTed to it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with outer.arrived:
                    outer.events.append(body)
                    outer.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def wait_for(self, n: int, timeout: float = 20) -> list[dict[str, Any]]:
        return self.wait_until(lambda events: len(events) >= n, timeout)

    def wait_until(self, seen: Callable[[list[dict[str, Any]]], bool],
                   timeout: float = 20) -> list[dict[str, Any]]:
        """The events once ``seen`` holds of them (alerts are POSTed from another thread)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: seen(self.events), timeout), self.events
            return list(self.events)


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Env:
    home = tmp_path_factory.mktemp("monitoring")
    e = Env(f"sqlite:///{home / 'state.db'}", home, alert_webhook_url=webhook.url,
            monitor_interval_s=0)
    e.deploy("admin", name="m-alpha")
    return e


def traffic(env: Env, release_id: str, n: int, *, shift: float = 0.0, seed: int = 0,
            arm: str = "stable", errors: float = 0.0, latency_ms: float = 3.0,
            ts: float | None = None, prefix: str = "r") -> list[str]:
    """``n`` requests of the hidden generator's rows to ``m-alpha``, answered and logged as
    ``release_id``'s replica would."""
    model = alpha_v1() if release_id.endswith("v1-x") else alpha_v2()
    rows = signal(n, seed)
    rows["x"] = rows["x"] + shift
    said = model.predict(rows[["x"]]).tolist()
    log = PredictionLog(LogConfig(uri=env.platform.settings.prediction_log_uri))
    info = ReleaseInfo("alpha-model", int(release_id.split("-v")[1][0]), release_id,
                       (("x", "double"),))
    failed = np.random.default_rng(seed).random(n) < errors
    ids = []
    for i in range(n):
        rid = f"{prefix}{seed}-{i}"
        ids.append(rid)
        log.record(Entry(release=info, ts=ts or time.time(), request_id=rid,
                         deployment="m-alpha", arm=arm, status=500 if failed[i] else 200,
                         latency_ms=latency_ms, columns={"x": [float(rows["x"].iloc[i])]},
                         predictions=None if failed[i] else [said[i]],
                         code="model_error" if failed[i] else None))
    log.flush()
    return ids


def stable(env: Env) -> str:
    record = env.platform.store.get_deployment("m-alpha")
    assert record is not None
    return record.release_id


def test_thresholds_are_kept_per_deployment_merged_and_audited(env: Env) -> None:
    admin = env.client(env.admin)
    assert admin.monitor("m-alpha").drift_threshold is None  # Evidently's own default
    admin.set_monitor("m-alpha", null_rate_max=0.2, slice_columns=["x"])
    done = admin.set_monitor("m-alpha", drift_threshold=0.3)
    assert (done.null_rate_max, done.drift_threshold, done.slice_columns) == (0.2, 0.3, ["x"])
    [event] = admin.audit(action="put_monitor", limit=1)
    assert event.details["from"]["drift_threshold"] is None
    assert event.details["to"]["drift_threshold"] == 0.3
    with pytest.raises(InvalidRequest, match="drift_method"):
        admin.set_monitor("m-alpha", drift_method="astrology")
    r = env.http(env.admin).put("/v1/deployments/m-alpha/monitor", json={"null_rate_max": 3})
    assert r.status_code == 400 and "null_rate_max" in r.text
    # a p-value test's threshold above 1 would call every window drifted (and page people)
    for body in ({"drift_method": "ks", "drift_threshold": 5}, {"drift_threshold": 5}):
        r = env.http(env.admin).put("/v1/deployments/m-alpha/monitor", json=body)
        assert r.status_code == 400 and "drift_threshold 5" in r.text, r.text
    assert admin.set_monitor("m-alpha", drift_method="psi", drift_threshold=2).drift_threshold == 2
    r = env.http(env.admin).post("/v1/deployments/m-alpha/monitoring",
                                 json={"window": "9" * 5000 + "d"})
    assert r.status_code == 400 and len(r.text) < 2_000
    admin.set_monitor("m-alpha", drift_threshold=None, drift_method=None, null_rate_max=0.05,
                      slice_columns=None)


def test_outcomes_join_by_request_id_unknown_ones_are_counted_wrong_labels_refused(
        env: Env) -> None:
    admin = env.client(env.admin)
    ids = traffic(env, stable(env), 30, seed=1, prefix="o")
    sent = [{"request_id": rid, "label": 1, "value": 2.0} for rid in ids[:5]] + \
        [{"request_id": "nobody-1", "label": 0}, {"request_id": "nobody-2", "value": 1.0}]
    done = admin.log_outcomes("m-alpha", sent)
    assert (done.received, done.recorded, done.unknown) == (7, 5, 2)
    assert done.unknown_request_ids == ["nobody-1", "nobody-2"]
    for label in ("yes", [1], {"a": 1}, True):
        with pytest.raises(InvalidInput) as refused:
            admin.log_outcomes("m-alpha", [{"request_id": ids[6], "label": 1},
                                           {"request_id": ids[7], "label": label}])
        assert refused.value.status == 422 and ids[7] in refused.value.message
        assert refused.value.details["problems"][0]["row"] == 1
    [event] = admin.audit(action="log_outcomes", limit=1)
    assert event.details == {"received": 7, "recorded": 5, "unknown": 2}
    r = env.http(env.admin).post("/v1/deployments/m-alpha/outcomes",
                                 json={"outcomes": [{"request_id": ids[0]}]})
    assert r.status_code == 400 and "label, a value, or both" in r.text


def test_outcomes_wait_for_the_logs_next_flush_only_a_few_calls_at_once(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown id while traffic flows waits for the serving processes' next flush —
    but never more than OUTCOME_WAITERS calls at once hold a server thread so."""
    import types

    from ferry_platform.application import _monitoring as module

    slept: list[float] = []
    monkeypatch.setattr(module, "time", types.SimpleNamespace(
        sleep=slept.append, monotonic=time.monotonic, time=time.time))
    admin = env.client(env.admin)
    traffic(env, stable(env), 5, seed=11, prefix="w")  # the log was written just now
    assert admin.log_outcomes("m-alpha", [{"request_id": "late-1", "label": 1}]).unknown == 1
    assert len(slept) == 1
    waits = env.platform.app.monitoring._outcome_waits
    for _ in range(module.OUTCOME_WAITERS):  # that many calls wait already
        assert waits.acquire(blocking=False)
    try:
        done = admin.log_outcomes("m-alpha", [{"request_id": "late-2", "label": 1}])
    finally:
        for _ in range(module.OUTCOME_WAITERS):
            waits.release()
    assert len(slept) == 1 and done.unknown_request_ids == ["late-2"]


def test_a_drift_alert_is_raised_sent_and_hooked_then_resolved_when_it_clears(
        env: Env, webhook: Webhook) -> None:
    admin = env.client(env.admin)
    seen: list[tuple[str, str, str]] = []
    app = env.platform.app.monitoring
    stop = app.on_alert(lambda a, event: seen.append((a.kind, a.subject, event)),
                        model="alpha-model", kind="drift")
    before = len(webhook.events)
    traffic(env, stable(env), 600, shift=1.5, seed=2, ts=time.time() - 600)
    # a viewer's report shows the drift but judges nothing: no alert, no page, no pipeline
    viewed = env.client(env.tokens["viewer-a"]).monitoring("m-alpha", window="30m")
    assert "x" in viewed.drifted() and any("for a viewer" in n for n in viewed.notes)
    assert [a for a in admin.alerts("m-alpha") if a.kind == "drift"] == [] and seen == []
    report = admin.monitoring("m-alpha", window="30m")
    assert "x" in report.drifted()
    [alert] = [a for a in admin.alerts("m-alpha") if a.kind == "drift"]
    assert (alert.subject, alert.state.value, alert.model) == ("x", "open", "alpha-model")
    # 400 reference rows (the evaluation set): Kolmogorov-Smirnov, a p-value below 0.05
    assert "ks" in alert.message and alert.value < alert.threshold == 0.05
    events = webhook.wait_for(before + 1)
    assert {(e["event"], e["alert"]["kind"], e["alert"]["subject"])
            for e in events[before:]} >= {("opened", "drift", "x")}
    assert ("drift", "x", "opened") in seen
    traffic(env, stable(env), 600, seed=3)  # the next window is clean
    admin.monitoring("m-alpha", window="2m")
    assert [a for a in admin.alerts("m-alpha") if a.kind == "drift"] == []
    [resolved] = [a for a in admin.alerts("m-alpha", state="resolved") if a.id == alert.id]
    assert resolved.resolved_at is not None
    assert ("drift", "x", "resolved") in seen
    webhook.wait_until(lambda events: any(
        e["event"] == "resolved" and e["alert"]["id"] == alert.id for e in events))
    assert {e.action for e in admin.audit(resource="deployment/m-alpha", limit=50)} >= \
        {"alert.opened", "alert.resolved", "monitor", "monitor.start"}
    stop()
    assert env.client(env.tokens["deployer-b"]).alerts("m-alpha", state="all") == []


def test_alerts_page_newest_first_with_before(env: Env) -> None:
    admin = env.client(env.admin)
    every = [a.id for a in admin.alerts("m-alpha", state="all", limit=1000)]
    assert len(every) >= 2 and every == sorted(every, reverse=True)  # the drift test's
    paged: list[int] = []
    page = admin.alerts("m-alpha", state="all", limit=1)
    while page:
        paged += [a.id for a in page]
        page = admin.alerts("m-alpha", state="all", limit=1, before=page[-1].id)
    assert paged == every


def test_a_report_of_a_window_without_traffic_says_so(env: Env) -> None:
    env.deploy("admin", name="m-quiet")
    report = env.client(env.admin).monitoring("m-quiet", window="1h")
    assert report.releases == [] and "no logged traffic" in report.notes[0]


def _tick(env: Env, at: float) -> dict[str, Any] | None:
    from datetime import UTC, datetime

    record = env.platform.store.get_deployment("m-alpha")
    assert record is not None
    return env.platform.app.monitoring.canary_tick(record, datetime.fromtimestamp(at, UTC))


def _wait_quiet(env: Env) -> None:
    for job in env.platform.job_store.find(target="m-alpha", limit=5):
        env.platform.jobs.wait(job.id, timeout=60)


def test_a_canary_that_fails_its_checks_is_rolled_back_by_itself_with_its_numbers(
        env: Env) -> None:
    admin = env.client(env.admin)
    admin.rollout("m-alpha", version=2, canary=10,
                  override_reason="monitoring test: traffic only")
    admin.set_monitor("m-alpha", canary_analysis={
        "max_error_rate": 0.05, "min_requests": 50, "failures": 2, "interval_s": 1})
    record = env.platform.store.get_deployment("m-alpha")
    candidate = record.rollout["candidate"]  # type: ignore[index]
    now = time.time()
    assert _tick(env, now) is not None  # starts the step; nothing logged yet
    traffic(env, stable(env), 400, seed=4, prefix="s")
    traffic(env, candidate, 20, seed=5, arm="canary", errors=0.3, prefix="c")
    assert _tick(env, now + 2)["verdict"] == "insufficient"  # type: ignore[index]
    traffic(env, candidate, 100, seed=6, arm="canary", errors=0.3, prefix="c")
    first = _tick(env, now + 4)
    assert first["verdict"] == "failed" and first["candidate"]["error_rate"] > 0.15  # type: ignore[index]
    assert first["stable"]["errors"] == 0  # type: ignore[index]
    assert env.platform.store.get_deployment("m-alpha").rollout  # one failure: not yet
    second = _tick(env, now + 6)
    assert second["verdict"] == "failed"  # type: ignore[index]
    _wait_quiet(env)
    assert env.platform.store.get_deployment("m-alpha").rollout is None
    assert env.runtime.routes["m-alpha"].get(candidate, 0) == 0
    [event] = admin.audit(action="canary_analysis.rollback", limit=1)
    numbers = event.details["canary_analysis"]
    assert event.actor == "ferry" and numbers["failures"] == 2
    assert numbers["candidate"]["release_id"] == candidate
    assert any(c["name"] == "error_rate" and not c["passed"] for c in numbers["checks"])
    [job] = [j for j in admin.jobs(kind="rollback", target="m-alpha", limit=1)]
    assert job.actor == "ferry" and job.request["canary_analysis"]["verdict"] == "failed"


def test_a_healthy_canary_is_stepped_up_and_promoted_through_the_gate(env: Env) -> None:
    admin = env.client(env.admin)
    _wait_quiet(env)
    admin.rollout("m-alpha", version=2, canary=10,
                  override_reason="monitoring test: traffic only")
    admin.set_monitor("m-alpha", canary_analysis={
        "max_error_rate": 0.05, "min_requests": 50, "failures": 2, "interval_s": 1,
        "steps": [50], "promote": True})
    candidate = env.platform.store.get_deployment("m-alpha").rollout["candidate"]  # type: ignore[union-attr,index]
    now = time.time()
    _tick(env, now)
    traffic(env, candidate, 80, seed=7, arm="canary", prefix="h")
    assert _tick(env, now + 2)["verdict"] == "passed"  # type: ignore[index]
    _wait_quiet(env)
    assert env.platform.store.get_deployment("m-alpha").rollout["weight"] == 50  # type: ignore[union-attr,index]
    _tick(env, now + 3)  # the new step starts counting here
    traffic(env, candidate, 80, seed=8, arm="canary", prefix="k", ts=time.time() + 5)
    assert _tick(env, now + 8)["verdict"] == "passed"  # type: ignore[index]
    _wait_quiet(env)
    record = env.platform.store.get_deployment("m-alpha")
    assert record.rollout is None and record.release_id == candidate  # type: ignore[union-attr]
    assert [e.action for e in admin.audit(action="canary_analysis.promote", limit=1)]
    assert env.evaluation_store.champion("alpha-model") == 2  # through the gate


def test_metrics_are_prometheus_text_with_the_latest_reports_gauges(env: Env) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    env.client(env.admin).monitoring("m-alpha", window="1h")
    text = env.client(env.tokens["predict-a"] if "predict-a" in env.tokens
                      else env.admin).metrics()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"ferry_requests", "ferry_request_latency_seconds", "ferry_prediction_log_dropped",
            "ferry_feature_drift_score", "ferry_feature_null_rate",
            "ferry_alerts_open"} <= set(families)
    scores = [s for s in families["ferry_feature_drift_score"].samples
              if s.labels["deployment"] == "m-alpha" and s.labels["feature"] == "x"]
    assert scores and all(s.value >= 0 for s in scores)
    assert env.http(None).get("/v1/metrics").status_code == 401


def test_a_version_without_a_training_sample_is_monitored_against_its_evaluation_set(
        env: Env, tmp_path: Path) -> None:
    ref = env.platform.monitor.reference(stable(env))  # type: ignore[union-attr]
    assert ref is not None and ref["source"] == "evaluation set v1"
    assert ref["predictions"] is None and len(ref["sample"]["x"]) == 400


def test_the_scheduler_reports_every_interval_as_the_platform_itself(env: Env) -> None:
    from dataclasses import replace

    app = env.platform.app.monitoring
    saved = app.settings
    app.settings = replace(saved, interval_s=100)
    try:
        def scheduled() -> list[Any]:
            return [j for j in env.platform.job_store.find(kind="monitor", target="m-quiet",
                                                           limit=50)
                    if j.request.get("scheduled")]

        app._last_scheduled.pop("m-quiet", None)
        env.platform.monitors.put_report("m-quiet", {})  # type: ignore[union-attr]
        before = len(scheduled())
        app.tick(now=0.0)  # seen first: it waits an interval (its report is recent)
        app.tick(now=50.0)
        assert len(scheduled()) == before
        with env.platform.db.session() as s, s.begin():  # its last report is old now
            from ferry_platform.store._tables import MonitorState

            row = s.get(MonitorState, "m-quiet")
            row.report_at = row.report_at.replace(year=2000)
        app.tick(now=150.0)
        jobs = scheduled()
        assert len(jobs) == before + 1 and jobs[0].actor == "ferry"
        env.platform.jobs.wait(jobs[0].id, timeout=60)
        app.tick(now=160.0)
        assert len(scheduled()) == before + 1
    finally:
        app.settings = saved
