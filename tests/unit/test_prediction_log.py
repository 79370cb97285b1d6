"""The prediction log as the data plane writes it: a prediction never waits for it nor fails
because of it, drops are counted, a process that dies loses at most its queue, and the
router and the release record what the issue lists (request id, arm, inputs, answers,
probabilities, latency, outcome; refusals by column and reason)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ferry_contract import REQUEST_ID_HEADER, ColumnSpec
from ferry_contract.proto import encode_request, predict_pb2
from ferry_platform.core import ReleaseManifest
from ferry_platform.core import predlog as P  # noqa: N812
from ferry_platform.monitoring._store import LogStore
from ferry_platform.serving._metrics import ProcessMetrics
from ferry_platform.serving._monitor import (
    UNEXPECTED_COLUMN,
    ReleaseMonitor,
    RouterMonitor,
    request_id,
)
from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo
from ferry_platform.serving._replica import FerryReplica
from ferry_platform.serving._router import FerryRouter


def run(coro: Any) -> Any:
    """Run a coroutine on a loop of its own, leaving the thread's event loop as it was
    (``asyncio.run`` unsets it, which breaks later tests that ask for it, e.g. Pulumi's)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


INFO = ReleaseInfo("churn", 1, "churn-v1-abc", (("tenure", "long"), ("plan", "string")))
SIG = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="plan", type="string")]


def entry(i: int = 0, rows: int = 1) -> Entry:
    return Entry(release=INFO, ts=time.time(), request_id=f"r{i}", deployment="churn",
                 arm="stable", status=200, latency_ms=1.0, rows=rows,
                 columns={"tenure": [i] * rows, "plan": ["pro"] * rows},
                 predictions=[1] * rows)


def read_all(root: Path) -> Any:
    store = LogStore(str(root))
    now = time.time()
    from datetime import UTC, datetime, timedelta

    end = datetime.fromtimestamp(now, UTC) + timedelta(hours=1)
    return store.read(store.files(["churn"], end - timedelta(hours=3), end))


def test_recording_never_waits_for_a_stuck_filesystem_and_counts_what_it_drops() -> None:
    stuck = threading.Event()
    log = PredictionLog(LogConfig(uri="unused", queue_max=1_000, flush_s=0.05),
                        write=lambda *_: stuck.wait(30))
    started = time.perf_counter()
    for i in range(20_000):
        log.record(entry(i))
    took = time.perf_counter() - started
    stuck.set()
    assert took < 1.0, f"20,000 records took {took:.2f}s with the writer stuck"
    accepted = 20_000 - log.dropped
    assert 1_000 <= accepted <= 2_000  # the queue, and whatever the flusher took before
    assert log.dropped >= 18_000
    log.close()


def test_a_failing_write_is_counted_and_the_next_flush_goes_on(tmp_path: Path) -> None:
    calls = {"n": 0}
    real = PredictionLog(LogConfig(uri=str(tmp_path)))

    def flaky(directory: str, table: Any, metadata: dict[bytes, bytes]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")
        real.write = None
        real._write(directory, table, metadata)

    log = PredictionLog(LogConfig(uri=str(tmp_path)), write=flaky)
    for i in range(10):
        log.record(entry(i))
    assert log.flush() == 0 and log.dropped == 10
    for i in range(10, 15):
        log.record(entry(i))
    assert log.flush() == 5 and log.dropped == 10 and log.written == 5
    assert len(read_all(tmp_path)) == 5


def test_a_process_that_dies_loses_at_most_its_queue(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, time
        from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo
        info = ReleaseInfo("churn", 1, "churn-v1-abc", (("tenure", "long"), ("plan", "string")))
        log = PredictionLog(LogConfig(uri={str(tmp_path)!r}, flush_s=3600))
        def e(i):
            return Entry(release=info, ts=time.time(), request_id=f"r{{i}}", deployment="churn",
                         arm="stable", status=200, latency_ms=1.0, rows=1,
                         columns={{"tenure": [i], "plan": ["pro"]}}, predictions=[1])
        for i in range(500):
            log.record(e(i))
        log.flush()
        for i in range(500, 600):
            log.record(e(i))   # still queued when the process is killed
        os._exit(9)
    """)
    done = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert done.returncode == 9
    table = read_all(tmp_path)
    assert sorted(table[P.REQUEST_ID].to_pylist(), key=lambda r: int(r[1:])) == \
        [f"r{i}" for i in range(500)]
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(P.TEMP_PREFIX)]
    assert leftovers == []


def test_request_ids_are_the_clients_when_sane_and_new_otherwise() -> None:
    assert request_id("order-42:a.b_c") == "order-42:a.b_c"
    for bad in ("", "x" * 65, "has space", "../etc", "é", None, "-leading"):
        made = request_id(bad)
        assert made != bad and len(made) == 32


def test_arms_come_from_the_routes() -> None:
    mon = RouterMonitor("churn", ProcessMetrics())
    mon.configure({"routes": [{"release_id": "a", "weight": 90, "arm": "stable"},
                              {"release_id": "b", "weight": 10, "arm": "canary"}],
                   "shadow": {"release_id": "c", "app": "x"}})
    assert (mon.arm("a"), mon.arm("b"), mon.arm("c")) == ("stable", "canary", "shadow")
    mon.configure({"routes": [{"release_id": "a", "weight": 30}, {"release_id": "b",
                                                                  "weight": 70}]})
    assert (mon.arm("a"), mon.arm("b")) == ("canary", "stable")  # older configs: by weight


class Classifier:
    """Answers 1 when tenure < 12, with probabilities; raises on tenure 13."""

    def predict_frame(self, frame: Any) -> Any:
        if (frame["tenure"] == 13).any():
            raise ValueError("boom")
        return (frame["tenure"] < 12).astype(int).to_numpy()

    def predict_proba_frame(self, frame: Any) -> Any:
        p = np.where(frame["tenure"].to_numpy() < 12, 0.8, 0.3)
        return [0, 1], np.column_stack([1 - p, p])

    def example_frame(self) -> Any:
        return None


def served(tmp_path: Path, model: Any = None,
           ) -> tuple[FerryRouter, PredictionLog, ProcessMetrics]:
    manifest = ReleaseManifest(release_id="churn-v1-abc", model="churn", version=1,
                               model_uri="models:/m-1", model_digest="sha256:0",
                               training_data_digest="sha256:1", code_version="git:0",
                               framework="sklearn", signature=SIG, ferry_version="0",
                               bento_tag="churn:abc")
    replica = FerryReplica({"protocol": "auto"}, loaded=(manifest, model or Classifier()))
    log, metrics = PredictionLog(LogConfig(uri=str(tmp_path))), ProcessMetrics()
    replica.monitor = ReleaseMonitor("churn", 1, "churn-v1-abc",
                                     [("tenure", "long"), ("plan", "string")], log, metrics)
    router = FerryRouter("churn")
    router._monitor = RouterMonitor("churn", metrics, log)
    router.reconfigure({"generation": 1, "access": {"anonymous": True, "tokens": {}},
                        "routes": [{"release_id": "churn-v1-abc", "app": "churn.x",
                                    "weight": 100, "arm": "stable"}]})
    router._local = ("churn-v1-abc", replica)
    return router, log, metrics


def post(router: FerryRouter, body: dict[str, Any],
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    from starlette.requests import Request

    raw = json.dumps(body).encode()
    messages = [{"type": "http.request", "body": raw, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    hdrs = {"content-length": str(len(raw)), **(headers or {})}
    scope = {"type": "http", "method": "POST", "path": "/churn/predict", "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()]}
    response = run(router(Request(scope, receive)))
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_every_answer_is_logged_with_its_id_arm_inputs_answer_and_outcome(
        tmp_path: Path) -> None:
    router, log, metrics = served(tmp_path)
    rows = [{"tenure": 3, "plan": "pro"}, {"tenure": 40, "plan": "basic"}]
    status, body, headers = post(router, {"inputs": rows, "probabilities": True},
                                 {"x-request-id": "order-7"})
    assert status == 200 and headers[REQUEST_ID_HEADER] == "order-7"
    assert body["predictions"] == [1, 0] and body["classes"] == [0, 1]
    assert body["probabilities"] == [[pytest.approx(0.2), 0.8], [0.7, pytest.approx(0.3)]]
    status, plain, headers = post(router, {"inputs": rows[:1]})
    assert status == 200 and "probabilities" not in plain
    generated = headers[REQUEST_ID_HEADER]
    assert len(generated) == 32 and plain["request_id"] == generated
    assert post(router, {"inputs": [{"tenure": "x", "plan": 1}]})[0] == 422
    assert post(router, {"inputs": [{"tenure": 13, "plan": "pro"}]})[0] == 500
    log.flush()
    table = read_all(tmp_path).to_pandas().sort_values(["ts", P.ROW])
    first = table[table[P.REQUEST_ID] == "order-7"]
    assert first[P.ROW].tolist() == [0, 1] and first[P.ARM].tolist() == ["stable"] * 2
    assert first[P.input_column("tenure")].tolist() == [3, 40]
    assert first[P.PREDICTION].tolist() == [1, 0]
    assert [list(p) for p in first[P.PROBABILITIES]] == [[pytest.approx(0.2), 0.8],
                                                          [0.7, pytest.approx(0.3)]]
    assert (first[P.STATUS] == 200).all() and (first[P.LATENCY_MS] > 0).all()
    assert first[P.DEPLOYMENT].tolist() == ["churn"] * 2
    assert table[table[P.REQUEST_ID] == generated][P.PROBABILITIES].isna().all()
    refused = table[table[P.STATUS] == 422]
    assert refused[P.CODE].tolist() == ["invalid_input"]
    assert sorted(map(tuple, json.loads(refused[P.PROBLEMS].iloc[0]))) == \
        [("plan", "wrong_type"), ("tenure", "wrong_type")]
    failed = table[table[P.STATUS] == 500]
    assert failed[P.CODE].tolist() == ["model_error"]
    assert failed[P.input_column("tenure")].tolist() == [13]
    counted = metrics.requests
    assert counted[("churn", "churn-v1-abc", "stable", "200")] == 2
    assert counted[("churn", "churn-v1-abc", "stable", "422")] == 1
    assert metrics.rejected[("churn", "churn-v1-abc", "tenure", "wrong_type")] == 1
    assert metrics.errors[("churn", "churn-v1-abc", "stable", "model_error")] == 1


def test_what_a_client_makes_up_neither_grows_the_metrics_nor_drops_the_log(
        tmp_path: Path) -> None:
    """Column names a client invents are counted under one label (not one series each),
    and a value no UTF-8 file holds is refused without costing the log its other rows."""
    router, log, metrics = served(tmp_path)
    for k in range(5):
        assert post(router, {"inputs": [{"tenure": 3, "plan": "pro", f"junk{k}": 1}]})[0] == 422
    assert post(router, {"inputs": [{"tenure": 3, "plan": "pro\ud800"}]})[0] == 422
    assert post(router, {"inputs": [{"tenure": 4, "plan": "pro"}]})[0] == 200
    log.flush()
    assert metrics.rejected[("churn", "churn-v1-abc", UNEXPECTED_COLUMN, "unexpected")] == 5
    assert not any("junk" in key[2] for key in metrics.rejected)
    assert log.dropped == 0
    table = read_all(tmp_path).to_pandas()
    assert sorted(table[P.STATUS].tolist()) == [200] + [422] * 6


def test_a_request_the_release_never_answered_is_logged_by_the_router(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica that died or timed out logs nothing itself: the router logs the request,
    so a crashing canary's error rate counts it (reports, canary analysis)."""
    router, log, _ = served(tmp_path)

    async def gone(*_: Any, **__: Any) -> Any:
        raise ConnectionError("the replica's actor died")

    monkeypatch.setattr(router, "_rest", gone)
    status, body, headers = post(router, {"inputs": [{"tenure": 3, "plan": "pro"}]},
                                 {"x-request-id": "lost-1"})
    assert status == 503 and headers[REQUEST_ID_HEADER] == "lost-1"
    log.flush()
    [row] = read_all(tmp_path).to_pandas().to_dict("records")
    assert (row[P.REQUEST_ID], row[P.STATUS], row[P.ARM]) == ("lost-1", 503, "stable")
    assert row[P.CODE] == body["error"]["code"]


def test_a_failed_request_is_logged_with_its_own_inputs_while_others_run_beside_it(
        tmp_path: Path) -> None:
    """A router answers on several threads: the failing request's log row holds what its
    model saw, not the inputs of a request that came in meanwhile."""
    inside, go_on = threading.Event(), threading.Event()

    class Slow(Classifier):
        def predict_frame(self, frame: Any) -> Any:
            if (frame["tenure"] == 13).any():
                inside.set()
                go_on.wait(10)  # the other request runs now, on its own thread
            return super().predict_frame(frame)

    router, log, _ = served(tmp_path, Slow())
    replica = router._local[1]  # type: ignore[index]

    def ask(tenure: int, out: list[int]) -> None:
        body = json.dumps({"inputs": [{"tenure": tenure, "plan": "pro"}]}).encode()
        out.append(replica.answer("POST", "/predict", body,
                                  {"id": f"t{tenure}", "arm": "stable", "deployment": "churn"})[0])

    failing: list[int] = []
    first = threading.Thread(target=ask, args=(13, failing))
    first.start()
    assert inside.wait(10)
    other: list[int] = []
    ask(5, other)
    go_on.set()
    first.join(10)
    assert (failing, other) == ([500], [200])
    log.flush()
    rows = read_all(tmp_path).to_pandas().set_index(P.REQUEST_ID)
    assert rows.loc["t13", P.input_column("tenure")] == 13


def entry_with(value: Any) -> Entry:
    e = entry()
    e.columns["plan"] = [value]
    return e


def test_a_value_arrow_cannot_encode_is_logged_escaped_not_dropped(tmp_path: Path) -> None:
    log = PredictionLog(LogConfig(uri=str(tmp_path)))
    log.record(entry_with("a\udc80b"))
    log.record(entry(1))
    log.flush()
    assert log.dropped == 0
    plans = read_all(tmp_path).to_pandas()[P.input_column("plan")].tolist()
    assert sorted(plans) == ["a\\udc80b", "pro"]


def test_a_broken_log_never_fails_a_prediction(tmp_path: Path) -> None:
    router, log, _ = served(tmp_path)

    def broken(_entry: Entry) -> None:
        raise RuntimeError("the log is broken")

    log.record = broken  # type: ignore[method-assign]
    status, body, _ = post(router, {"inputs": [{"tenure": 3, "plan": "pro"}]})
    assert status == 200 and body["predictions"] == [1]


class GrpcContext:
    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self.metadata, self.trailing, self.code = metadata, {}, None

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def set_code(self, code: Any) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        pass

    def set_trailing_metadata(self, metadata: list[tuple[str, str]]) -> None:
        self.trailing = dict(metadata)


def test_grpc_answers_carry_the_request_id_and_probabilities(tmp_path: Path) -> None:
    router, log, _ = served(tmp_path)
    request = encode_request({"tenure": [3, 40], "plan": ["pro", "basic"]}, probabilities=True)
    ctx = GrpcContext([("application", "churn"), ("x-request-id", "grpc-1")])
    answer = run(router.Predict(request.SerializeToString(), ctx))
    assert ctx.code is None and ctx.trailing[REQUEST_ID_HEADER] == "grpc-1"
    assert answer.request_id == "grpc-1"
    assert list(answer.classes.int64s.values) == [0, 1]
    assert [list(c.values) for c in answer.probabilities] == [[pytest.approx(0.2), 0.7],
                                                               [0.8, pytest.approx(0.3)]]
    old = predict_pb2.PredictRequest(columns=request.columns)  # an old client: no flag
    plain = run(router.Predict(old.SerializeToString(), GrpcContext([
        ("application", "churn")])))
    assert not plain.HasField("classes") and len(plain.probabilities) == 0
    log.flush()
    ids = set(read_all(tmp_path)[P.REQUEST_ID].to_pylist())
    assert "grpc-1" in ids and len(ids) == 2
