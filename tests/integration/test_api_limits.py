"""The control plane's limits: POST /v1/training-sets has a body limit of its own (413 before
the body is read) and builds at most FERRY_TRAINING_SET_CONCURRENCY sets at once (429
beyond, nothing queued in memory); numbers past what the registry holds are 400s."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
from _control_plane import Env, FakeFeatures

BODY = {"features": ["stats:x"], "entities": [{"id": 1, "event_timestamp": "2026-01-01"}]}


class SlowFeatures(FakeFeatures):
    """Builds a real (tiny) training set, after ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def training_set(self, features: list[str], entities: Any) -> Any:
        self.started.release()
        self.release.wait(10)
        frame = entities.assign(x=1.0, event_timestamp=pd.to_datetime(
            entities["event_timestamp"], utc=True))  # as the features capability returns it

        class TS:
            feature_refs = ["stats@v0:x"]

        TS.frame = pd.DataFrame(frame)  # type: ignore[attr-defined]
        return TS


def test_a_body_over_the_training_set_limit_is_413_before_it_is_read(tmp_path: Path) -> None:
    env = Env(f"sqlite:///{tmp_path / 's.db'}", tmp_path, training_set_max_mb=0.01)
    big = {"features": ["stats:x"],
           "entities": [{"id": i, "event_timestamp": "2026-01-01"} for i in range(2000)]}
    r = env.http(env.tokens["deployer-a"]).post("/v1/training-sets", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert "FERRY_TRAINING_SET_MAX_MB" in r.json()["error"]["message"]
    # other routes keep the general limit
    r = env.http(env.tokens["deployer-a"]).put("/v1/models/alpha-model",
                                               json={"description": "x" * 4000})
    assert r.status_code == 200


def test_more_training_sets_at_once_than_allowed_are_429(tmp_path: Path) -> None:
    features = SlowFeatures()
    env = Env(f"sqlite:///{tmp_path / 's.db'}", tmp_path, features=features,
              training_set_concurrency=2)
    http = env.http(env.tokens["deployer-a"])
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(
        http.post("/v1/training-sets", json=BODY).status_code)) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(2):
        assert features.started.acquire(timeout=10)
    third = http.post("/v1/training-sets", json=BODY)
    assert third.status_code == 429 and third.json()["error"]["code"] == "too_many_requests"
    features.release.set()
    for t in threads:
        t.join(10)
    assert answers == [200, 200]
    assert http.post("/v1/training-sets", json=BODY).status_code == 200  # free again


def test_numbers_past_what_the_registry_holds_are_400_naming_the_field(tmp_path: Path) -> None:
    """Two former 500s: an unbounded version in a deploy, and compare?base=2**63."""
    env = Env(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    http = env.http(env.tokens["deployer-a"])
    r = http.post("/v1/deployments", json={"model": "alpha-model", "version": 2**70})
    assert r.status_code == 400 and "version" in r.json()["error"]["message"]
    r = http.get(f"/v1/models/alpha-model/compare?base={2**63}&candidate=1")
    assert r.status_code == 400 and "base" in r.json()["error"]["message"]
    r = http.get(f"/v1/models/alpha-model/versions/{2**40}")
    assert r.status_code == 400
