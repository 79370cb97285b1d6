"""Monitoring on a real local Ray Serve: every answer is logged with its request id (REST
header, gRPC trailing metadata), probabilities on both protocols, a report of the logged
window (drift, outcomes joined by request id, business value), Prometheus' counts; and
canary analysis under load: a candidate that fails on 30% of the requests is rolled back
by itself while the stable arm fails none, a healthy one is stepped up and promoted."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx
import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ferry_contract import RELEASE_HEADER, REQUEST_ID_HEADER

pytestmark = pytest.mark.ray

NAME = "e2e-monitor"


def strict_pipeline() -> Any:
    """Fails on a plan it never saw (OneHotEncoder's default): a candidate that breaks on
    the traffic the stable model takes in its stride."""
    train = training_frame(12)
    pre = ColumnTransformer([("num", StandardScaler(), ["tenure", "monthly", "income",
                                                         "tickets"]),
                             ("cat", OneHotEncoder(handle_unknown="error"), ["plan"])])
    return make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(
        train[FEATURES], train["churned"])


@pytest.fixture(scope="module")
def versions(client):  # type: ignore[no-untyped-def]
    v1 = client.register(sklearn_pipeline(), name=NAME, training_data=training_frame(),
                         target="churned")
    strict = client.register(strict_pipeline(), name=NAME, training_data=training_frame(12),
                             target="churned")
    healthy = client.register(sklearn_pipeline(seed=13), name=NAME,
                              training_data=training_frame(13), target="churned")
    client.create_eval_set(NAME, training_frame(33), label="churned", slice_column="plan",
                           pin=True)
    client.set_gate(NAME, tolerance=0.3, slice_tolerance=0.3, guardrails=[])
    return v1.version, strict.version, healthy.version


@pytest.fixture(scope="module")
def deployment(client, versions):  # type: ignore[no-untyped-def]
    dep = client.deploy(NAME, version=versions[0], replicas=1)
    yield dep
    dep.close()
    client.undeploy(NAME)


def rows(n: int, seed: int, unseen: float = 0.0) -> list[dict[str, Any]]:
    frame = training_frame(seed)[FEATURES].sample(n, replace=True, random_state=seed)
    out = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
           for r in frame.to_dict("records")]
    rng = random.Random(seed)
    for r in out:
        if rng.random() < unseen:
            r["plan"] = "enterprise"  # never seen in training
    return out


class Load:
    """Three REST clients sending single rows from a pool until stopped; each answer's
    status and release."""

    def __init__(self, url: str, token: str, pool: list[dict[str, Any]]) -> None:
        self.url, self.token, self.pool = url, token, pool
        self.answers: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(3)]

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=30, headers={"authorization": f"Bearer {self.token}"}) as h:
            while not self._stop.is_set():
                r = h.post(f"{self.url}/predict", json={"inputs": [rng.choice(self.pool)]})
                self.answers.append((r.status_code, r.headers.get(RELEASE_HEADER)))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def settle(client: Any, timeout: float = 120) -> None:
    """Wait for every change of the deployment still under way (a rollback, step-up or
    promote that canary analysis started: the status shows its traffic before its job
    ends and frees the deployment's lock, and a change then would get a 409)."""
    def idle() -> bool:
        return not any(client.jobs(target=NAME, state=state) for state in ("queued", "running"))

    wait_until(idle, timeout, f"no change of {NAME} under way")


def test_answers_carry_request_ids_and_probabilities_and_are_logged_and_reported(  # type: ignore[no-untyped-def]
        client, deployment, admin_token) -> None:
    batch = rows(2, seed=3)
    for protocol in ("rest", "grpc"):
        got = deployment.predict(batch, protocol=protocol, probabilities=True,
                                 request_id=f"mine-{protocol}")
        assert got.request_id == f"mine-{protocol}" and got.classes == [0, 1]
        assert len(got.probabilities) == 2
        assert all(abs(sum(p) - 1) < 1e-9 for p in got.probabilities)
        assert got.predictions == [int(p[1] > 0.5) for p in got.probabilities]
    plain = deployment.predict(batch)
    # ours, or the id Ray Serve gave the request (its x-request-id), which its logs show
    assert len(plain.request_id) >= 16 and plain.probabilities is None
    # traffic whose income is shifted, answered one request each; outcomes come later
    shifted = rows(300, seed=5)
    for r in shifted:
        r["income"] = r["income"] * 2.5
    ids = []
    with httpx.Client(timeout=30, headers={"authorization": f"Bearer {admin_token}"}) as h:
        for r in shifted:
            resp = h.post(f"{deployment.info.endpoints.rest}/predict", json={"inputs": [r]})
            assert resp.status_code == 200
            ids.append(resp.headers[REQUEST_ID_HEADER])
    labels = training_frame(5)["churned"].sample(300, replace=True, random_state=5).tolist()
    done = client.log_outcomes(NAME, [{"request_id": i, "label": int(y), "value": 10.0 + k % 3}
                                      for k, (i, y) in enumerate(zip(ids, labels, strict=True))] +
                               [{"request_id": "not-a-request", "label": 1}])
    assert (done.recorded, done.unknown) == (300, 1)
    report = client.monitoring(NAME, window="15m")
    release = report.release(deployment.release_id)
    assert release.rows >= 300 and release.reference and release.labelled == 300
    assert "income" in report.drifted() and "tenure" not in report.drifted()
    assert release.metrics["accuracy"] is not None
    [value] = report.business_value
    assert value.arm == "stable" and value.n == 300 and value.mean == pytest.approx(11.0, 0.01)
    assert any(a.kind == "drift" and a.subject == "income" for a in client.alerts(NAME))
    def counted() -> str | None:  # serving processes push their counts every 2 s
        text = client.metrics()
        return text if f'ferry_requests_total{{arm="stable",deployment="{NAME}"' in text \
            or f'deployment="{NAME}",release=' in text else None

    metrics = wait_until(counted, 30, "the data plane's counts in /v1/metrics")
    assert "ferry_request_latency_seconds_bucket" in metrics
    assert f'ferry_feature_drift_score{{deployment="{NAME}"' in metrics


def test_a_canary_failing_on_30_percent_of_requests_rolls_back_by_itself(  # type: ignore[no-untyped-def]
        client, deployment, versions, admin_token) -> None:
    _, strict, _ = versions
    client.set_monitor(NAME, canary_analysis={"max_error_rate": 0.05, "min_requests": 30,
                                              "failures": 2, "interval_s": 2})
    dep = client.rollout(NAME, version=strict, canary=30,
                         override_reason="e2e: traffic analysis only")
    candidate = dep.info.rollout.candidate.release_id  # type: ignore[union-attr]
    with Load(deployment.info.endpoints.rest, admin_token, rows(400, 7, unseen=0.3)) as load:
        wait_until(lambda: client.status(NAME).rollout is None, 120,
                   "the failing canary rolled back")
        time.sleep(0.5)
    settle(client)
    stable = [s for s, rel in load.answers if rel == deployment.release_id]
    bad = [s for s, rel in load.answers if rel == candidate]
    assert stable and all(s == 200 for s in stable), "the stable arm failed requests"
    assert sum(s == 500 for s in bad) >= 10
    assert client.status(NAME).release.release_id == deployment.release_id
    [event] = client.audit(action="canary_analysis.rollback", limit=1)
    numbers = event.details["canary_analysis"]
    assert numbers["candidate"]["release_id"] == candidate
    assert numbers["candidate"]["error_rate"] > 0.15 and numbers["failures"] == 2


def test_a_healthy_canary_is_stepped_up_and_promoted_by_itself(  # type: ignore[no-untyped-def]
        client, deployment, versions, admin_token) -> None:
    _, _, healthy = versions
    client.set_monitor(NAME, canary_analysis={"max_error_rate": 0.02, "min_requests": 20,
                                              "failures": 2, "interval_s": 1, "steps": [60],
                                              "promote": True})
    dep = client.rollout(NAME, version=healthy, canary=20,
                         override_reason="e2e: traffic analysis only")
    candidate = dep.info.rollout.candidate.release_id  # type: ignore[union-attr]
    with Load(deployment.info.endpoints.rest, admin_token, rows(400, 9)) as load:
        wait_until(lambda: client.status(NAME).release.release_id == candidate, 150,
                   "the healthy canary promoted")
    settle(client)
    assert load.answers and all(s == 200 for s, _ in load.answers)
    steps = client.audit(action="canary_analysis.step", limit=1)
    assert steps and steps[0].details["to_weight"] == 60
    assert client.audit(action="canary_analysis.promote", limit=1)
    client.rollback(NAME)  # back to v1 for whoever comes next
