"""A client load loop against a deployment, recording every answer's status and release."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ferry_contract import RELEASE_HEADER


@dataclass
class Answer:
    at: float
    status: int | str
    release: str | None
    protocol: str


@dataclass
class LoadLoop:
    """``threads`` REST clients and one gRPC client predicting ``row`` until stopped."""

    rest_url: str
    grpc_target: str | None
    app: str
    row: dict[str, Any]
    token: str
    threads: int = 3
    answers: list[Answer] = field(default_factory=list)
    marks: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _record(self, status: int | str, release: str | None, protocol: str) -> None:
        with self._lock:
            self.answers.append(Answer(time.monotonic(), status, release, protocol))

    def _rest(self) -> None:
        body = json.dumps({"inputs": [self.row]})
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                try:
                    r = http.post(f"{self.rest_url}/predict", content=body,
                                  headers={"content-type": "application/json",
                                           "authorization": f"Bearer {self.token}"})
                    self._record(r.status_code, r.headers.get(RELEASE_HEADER), "rest")
                except httpx.HTTPError as e:
                    self._record(f"{type(e).__name__}: {e}", None, "rest")

    def _grpc(self) -> None:
        import grpc

        from ferry_contract.proto import encode_request, predict_pb2_grpc

        request = encode_request({k: [v] for k, v in self.row.items()})
        assert self.grpc_target is not None
        with grpc.insecure_channel(self.grpc_target) as channel:
            stub = predict_pb2_grpc.PredictorStub(channel)
            while not self._stop.is_set():
                try:
                    resp, call = stub.Predict.with_call(
                        request, metadata=(("application", self.app),
                                           ("authorization", f"Bearer {self.token}")),
                        timeout=30)
                    self._record(200, resp.release_id, "grpc")
                except grpc.RpcError as e:
                    self._record(f"gRPC {e.code().name}: {e.details()}", None, "grpc")

    def mark(self, label: str) -> None:
        self.marks.append((label, time.monotonic()))

    def answered(self, count: int, *, after: float | None = None, timeout_s: float = 60) -> None:
        """Until ``count`` answers came back after ``after`` (default: now): traffic seen,
        rather than a fixed sleep that a loaded machine may not fill."""
        since = time.monotonic() if after is None else after
        deadline = time.monotonic() + timeout_s
        while sum(a.at > since for a in self.answers) < count:
            assert time.monotonic() < deadline, f"fewer than {count} answers in {timeout_s}s"
            time.sleep(0.02)

    def __enter__(self) -> LoadLoop:
        targets = [self._rest] * self.threads + ([self._grpc] if self.grpc_target else [])
        for target in targets:
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._workers.append(t)
        self.answered(len(targets), after=0)  # traffic flows before anything changes
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.answered(len(self._workers))  # and still after the last change
        self._stop.set()
        for t in self._workers:
            t.join(timeout=60)

    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def releases_between(self, start: float, end: float) -> dict[str | None, int]:
        out: dict[str | None, int] = {}
        for a in self.answers:
            if start <= a.at < end:
                out[a.release] = out.get(a.release, 0) + 1
        return out
