"""A small closed-loop load generator, run in its own process by the benchmarks.

``http``: N keep-alive HTTP/1.1 connections, each sending the same POST back to back
(raw asyncio streams on uvloop: a few tens of microseconds of client CPU per request, so
the client is not what is measured). The body is ``{"inputs": [ROW]}`` (Ferry's REST
shape) or, with ``--body-file``, any bytes (an Open Inference Protocol body, a batch).

``grpc``: N concurrent callers on grpc.aio channels calling one unary method with the same
serialized message: Ferry's ``PredictRequest`` of ``--row`` by default, or the bytes of
``--body-file`` for any ``--method`` (MLServer's ``ModelInfer``). Messages go out and come
back as bytes (no per-call protobuf work in the client, as for REST), so every gRPC variant
costs the client the same; a call is an error when its status is not OK.

The client shares the machine's cores with the servers it measures, so it also reports its
own CPU per completed request (``client_cpu_us``): variants are comparable only when that
is small and alike. Prints one JSON line: requests, errors, seconds, req/s, latencies'
p50/p99 in ms, client CPU µs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

_ENDED: list[float] = []
"""Set by SIGTERM (``--until-signalled``): the time the load was told to stop early."""


def _stopped(now: float, stop: float) -> bool:
    return now >= stop or bool(_ENDED)


def _measured(duration: float, measure_from: float) -> float:
    """Seconds measured: ``duration``, or less if the load was stopped early."""
    if _ENDED:
        return max(0.0, min(duration, _ENDED[0] - measure_from))
    return duration


def _summary(lat: list[float], errors: int, seconds: float, done: int = 0,
             cpu_s: float = 0.0) -> dict[str, Any]:
    """``done``: every request completed, warm-up included; ``cpu_s``: this process's CPU
    time over the same span (so their ratio is the client's cost per request)."""
    lat.sort()
    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    return {"requests": len(lat), "errors": errors, "seconds": seconds,
            "rps": len(lat) / seconds if seconds else 0.0, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "client_cpu_us": round(cpu_s / done * 1e6, 1) if done else float("nan")}


async def http_load(host: str, port: int, path: str, body: bytes, concurrency: int,
                    duration: float, warmup: float, paths: list[str] | None = None,
                    headers: str = "") -> dict[str, Any]:
    """POST ``body`` to ``path``; or, with ``paths``, GET them in turn (one per request)."""
    if paths:
        requests = [(f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}\r\n").encode()
                    for p in paths]
    else:
        requests = [(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{headers}"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     ).encode() + body]
    lat: list[float] = []
    errors = done = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       request: bytes) -> tuple[int, bool]:
        """One request on the connection: (status, whether the server keeps it open)."""
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked, keep = False, True
        for line in head.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
            elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                chunked = True
            elif low.startswith(b"connection:") and b"close" in low:
                keep = False
        if chunked:
            while True:
                size = int((await reader.readline()).strip(), 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.readexactly(length)
        return status, keep

    async def worker(n: int) -> None:
        nonlocal errors, done
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        i = n
        while True:
            t0 = time.perf_counter()
            if _stopped(t0, stop):
                break
            request = requests[i % len(requests)]
            i += concurrency
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                status, keep = await exchange(*connection, request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                status, keep = 0, False  # the connection broke: an error, then a new one
            if not keep and connection is not None:
                connection[1].close()
                connection = None
            t1 = time.perf_counter()
            done += 1
            if t0 >= measure_from:
                if status == 200:
                    lat.append(t1 - t0)
                else:
                    errors += 1
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return _summary(lat, errors, _measured(duration, measure_from), done,
                    time.process_time() - cpu0)


FERRY_PREDICT = "/ferry.v1.Predictor/Predict"
MAX_MESSAGE = 64 * 2**20
"""Channel limit both ways (gRPC's default is 4 MiB received): batches fit."""


async def grpc_load(target: str, method: str, message: bytes,
                    metadata: tuple[tuple[str, str], ...], concurrency: int, duration: float,
                    warmup: float) -> dict[str, Any]:
    """Call ``method`` with the serialized ``message`` (bytes both ways: no serializers)."""
    import grpc

    options = [("grpc.max_receive_message_length", MAX_MESSAGE),
               ("grpc.max_send_message_length", MAX_MESSAGE)]
    channels = [grpc.aio.insecure_channel(target, options=options)
                for _ in range(max(1, concurrency // 4))]
    calls = [c.unary_unary(method) for c in channels]  # no (de)serializer: bytes in and out
    lat: list[float] = []
    errors = done = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def worker(i: int) -> None:
        nonlocal errors, done
        call = calls[i % len(calls)]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            try:
                await call(message, metadata=metadata, timeout=30)
                ok = True
            except grpc.aio.AioRpcError:
                ok = False
            t1 = time.perf_counter()
            done += 1
            if t0 >= measure_from:
                if ok:
                    lat.append(t1 - t0)
                else:
                    errors += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    cpu = time.process_time() - cpu0
    for c in channels:
        await c.close()
    return _summary(lat, errors, duration, done, cpu)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["http", "grpc"])
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--path", default="/predict")
    p.add_argument("--app", default="", help="gRPC: the `application` metadata (Ferry)")
    p.add_argument("--method", default=FERRY_PREDICT, help="gRPC: the unary method's path")
    p.add_argument("--row", default="{}", help="one row as JSON (POST)")
    p.add_argument("--body-file", help="send these bytes instead: the POST body (http) or the "
                   "serialized request message (grpc)")
    p.add_argument("--paths-file", help="GET these paths (one per line) in turn instead")
    p.add_argument("--header", action="append", default=[], help="extra 'Name: value'")
    p.add_argument("--token", default="", help="API token (Authorization: Bearer)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--until-signalled", action="store_true",
                   help="HTTP: SIGTERM ends the load early, and the figures are still printed")
    a = p.parse_args()
    if a.until_signalled:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: _ENDED.append(time.perf_counter()))
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    row = json.loads(a.row)
    host, port = a.target.rsplit(":", 1)
    raw = Path(a.body_file).read_bytes() if a.body_file else None
    if a.mode == "http":
        body = raw if raw is not None else json.dumps({"inputs": [row]}).encode()
        paths = open(a.paths_file).read().split() if a.paths_file else None
        extra = [*a.header, *([f"Authorization: Bearer {a.token}"] if a.token else [])]
        headers = "".join(f"{h}\r\n" for h in extra)
        out = asyncio.run(http_load(host, int(port), a.path, body, a.concurrency, a.duration,
                                    a.warmup, paths, headers))
    else:
        if raw is None:
            from ferry_contract.proto import encode_request

            raw = encode_request({k: [v] for k, v in row.items()}).SerializeToString()
        metadata: tuple[tuple[str, str], ...] = (("application", a.app),) if a.app else ()
        if a.token:
            metadata += (("authorization", f"Bearer {a.token}"),)
        out = asyncio.run(grpc_load(a.target, a.method, raw, metadata, a.concurrency,
                                    a.duration, a.warmup))
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
