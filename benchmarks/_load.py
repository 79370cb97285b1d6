"""A small closed-loop load generator, run in its own process by the benchmarks.

``http``: N keep-alive HTTP/1.1 connections, each sending the same POST back to back
(raw asyncio streams on uvloop: a few tens of microseconds of client CPU per request, so
the client is not what is measured). ``grpc``: N concurrent callers on grpc.aio channels.
Prints one JSON line: requests, errors, seconds, latencies' p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


def _summary(lat: list[float], errors: int, seconds: float) -> dict[str, Any]:
    lat.sort()
    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    return {"requests": len(lat), "errors": errors, "seconds": seconds,
            "rps": len(lat) / seconds if seconds else 0.0, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


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
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def worker(n: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        i = n
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            writer.write(requests[i % len(requests)])
            i += concurrency
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n"):
                low = line.lower()
                if low.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if status == 200:
                    lat.append(t1 - t0)
                else:
                    errors += 1
        writer.close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return _summary(lat, errors, duration)


async def grpc_load(target: str, app: str, columns: dict[str, list[Any]], concurrency: int,
                    duration: float, warmup: float, token: str = "") -> dict[str, Any]:
    import grpc

    from ferry_contract.proto import encode_request, predict_pb2_grpc

    request = encode_request(columns)
    channels = [grpc.aio.insecure_channel(target) for _ in range(max(1, concurrency // 4))]
    stubs = [predict_pb2_grpc.PredictorStub(c) for c in channels]
    metadata: tuple[tuple[str, str], ...] = (("application", app),)
    if token:
        metadata += (("authorization", f"Bearer {token}"),)
    lat: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def worker(i: int) -> None:
        nonlocal errors
        stub = stubs[i % len(stubs)]
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                break
            try:
                await stub.Predict(request, metadata=metadata, timeout=10)
                ok = True
            except grpc.aio.AioRpcError:
                ok = False
            t1 = time.perf_counter()
            if t0 >= measure_from:
                if ok:
                    lat.append(t1 - t0)
                else:
                    errors += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    for c in channels:
        await c.close()
    return _summary(lat, errors, duration)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["http", "grpc"])
    p.add_argument("--target", required=True, help="host:port")
    p.add_argument("--path", default="/predict")
    p.add_argument("--app", default="")
    p.add_argument("--row", default="{}", help="one row as JSON (POST)")
    p.add_argument("--paths-file", help="GET these paths (one per line) in turn instead")
    p.add_argument("--header", action="append", default=[], help="extra 'Name: value'")
    p.add_argument("--token", default="", help="API token (Authorization: Bearer)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=2)
    a = p.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    row = json.loads(a.row)
    host, port = a.target.rsplit(":", 1)
    if a.mode == "http":
        body = json.dumps({"inputs": [row]}).encode()
        paths = open(a.paths_file).read().split() if a.paths_file else None
        extra = [*a.header, *([f"Authorization: Bearer {a.token}"] if a.token else [])]
        headers = "".join(f"{h}\r\n" for h in extra)
        out = asyncio.run(http_load(host, int(port), a.path, body, a.concurrency, a.duration,
                                    a.warmup, paths, headers))
    else:
        out = asyncio.run(grpc_load(a.target, a.app, {k: [v] for k, v in row.items()},
                                    a.concurrency, a.duration, a.warmup, a.token))
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
