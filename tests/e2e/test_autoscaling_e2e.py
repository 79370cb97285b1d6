"""An autoscaled deployment on the session's Ray Serve: the bounds reach Serve, status shows
them with the replicas running, and a load step adds replicas (the routers, which answer
the serving release in-process, carry the load)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from _models import FEATURES, sklearn_pipeline, training_frame

pytestmark = pytest.mark.ray


def test_a_load_step_adds_replicas_within_the_bounds(client, auth) -> None:  # type: ignore[no-untyped-def]
    mv = client.register(sklearn_pipeline(), name="e2e-auto", training_data=training_frame(),
                         target="churned")
    dep = client.deploy("e2e-auto", version=mv.version, replicas="auto", min_replicas=1,
                        max_replicas=3)
    try:
        info = client.status("e2e-auto")
        assert (info.replicas, info.max_replicas) == (1, 3)
        assert info.running_replicas == 1
        low = info.router_replicas
        assert low is not None and low < 3
        url = f"{info.endpoints.rest}/predict"
        body = {"inputs": training_frame(5)[FEATURES].head(1).to_dict("records")}
        stop, errors = threading.Event(), []

        def hammer() -> None:
            with httpx.Client(timeout=30, headers=auth) as http:
                while not stop.is_set():
                    if http.post(url, json=body).status_code != 200:
                        errors.append(1)

        workers = [threading.Thread(target=hammer, daemon=True) for _ in range(16)]
        for w in workers:
            w.start()
        try:
            deadline, seen = time.monotonic() + 90, low
            while time.monotonic() < deadline and seen <= low:
                time.sleep(2)
                seen = client.status("e2e-auto").router_replicas or 0
        finally:
            stop.set()
            for w in workers:
                w.join(30)
        assert low < seen <= 3, f"routers stayed at {seen} under 16 clients"
        assert errors == []  # scaling up loses no request
    finally:
        dep.close()
        client.undeploy("e2e-auto")
