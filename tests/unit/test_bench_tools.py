"""The serving benchmark's own tools: the load generator counts what it is sent back (and
survives a server that closes connections), and MLServer's lock loads the same pickle.

The load generator runs as the benchmark runs it (its own process, short durations)
against small servers started here on loopback.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[2]
LOAD = ROOT / "benchmarks" / "_load.py"


def run_load(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(LOAD), *args, "--concurrency", "3",
                          "--duration", "0.6", "--warmup", "0.1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


class HttpServer:
    """Answers 200 to a POST whose body is ``expected``, 400 to any other; every
    ``close_every``-th answer says ``Connection: close`` and closes."""

    def __init__(self, expected: bytes, close_every: int = 0) -> None:
        self.expected, self.close_every = expected, close_every
        self.answered = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        threading.Thread(target=self._loop.run_until_complete, args=(self._main(),),
                         daemon=True).start()
        self._ready.wait(10)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                body = await reader.readexactly(length)
                self.answered += 1
                close = self.close_every and self.answered % self.close_every == 0
                status = b"200 OK" if body == self.expected else b"400 Bad Request"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n"
                             + (b"Connection: close\r\n" if close else b"") + b"\r\n{}")
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    def stop(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_bytes(b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}')
    return path


def test_http_load_sends_the_body_file_and_counts_answers(body_file: Path) -> None:
    server = HttpServer(body_file.read_bytes())
    try:
        ok = run_load("http", "--target", f"127.0.0.1:{server.port}", "--body-file",
                      str(body_file))
        wrong = run_load("http", "--target", f"127.0.0.1:{server.port}")  # {"inputs": [{}]}
    finally:
        server.stop()
    assert ok["requests"] > 10 and ok["errors"] == 0 and ok["client_cpu_us"] > 0
    assert wrong["requests"] == 0 and wrong["errors"] > 10


def test_http_load_reconnects_when_the_server_closes(body_file: Path) -> None:
    server = HttpServer(body_file.read_bytes(), close_every=5)
    try:
        out = run_load("http", "--target", f"127.0.0.1:{server.port}", "--body-file",
                       str(body_file))
    finally:
        server.stop()
    assert out["requests"] > 10 and out["errors"] == 0


@pytest.fixture
def grpc_server() -> Iterator[int]:
    """A generic unary method ``/t.T/Echo`` that answers the bytes it gets; ``/t.T/Fail``
    answers INVALID_ARGUMENT."""
    from concurrent import futures

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    def fail(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no")

    handlers = {"Echo": grpc.unary_unary_rpc_method_handler(echo),
                "Fail": grpc.unary_unary_rpc_method_handler(fail)}
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.T", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(0)


def test_grpc_load_calls_any_method_with_raw_bytes(grpc_server: int, tmp_path: Path) -> None:
    message = tmp_path / "message.bin"
    message.write_bytes(b"\x0a\x03abc")
    target = f"127.0.0.1:{grpc_server}"
    ok = run_load("grpc", "--target", target, "--method", "/t.T/Echo", "--body-file",
                  str(message))
    failed = run_load("grpc", "--target", target, "--method", "/t.T/Fail", "--body-file",
                      str(message))
    assert ok["requests"] > 10 and ok["errors"] == 0
    assert failed["requests"] == 0 and failed["errors"] > 10


def _pins(text: str) -> dict[str, str]:
    """name -> version from a pip requirements lock."""
    return {k.lower(): v for k, v in re.findall(r"(?m)^([A-Za-z0-9_.-]+)==([^\s\\;]+)", text)}


def test_mlserver_loads_the_pickle_with_ferrys_own_scikit_learn() -> None:
    """Both sides unpickle one joblib file: same scikit-learn and joblib as this
    environment (Ferry's lock), same numpy major version."""
    from importlib.metadata import version

    lock = (ROOT / "benchmarks" / "mlserver" / "requirements.lock").read_text()
    peer = _pins(lock)
    for name in ("scikit-learn", "joblib"):
        assert peer[name] == version(name), (
            f"{name}: MLServer's lock has {peer[name]}, Ferry's environment {version(name)}; "
            f"pin it in benchmarks/mlserver/requirements.in and recompile the lock")
    assert peer["numpy"].split(".")[0] == version("numpy").split(".")[0]
    assert peer["mlserver"] == peer["mlserver-sklearn"]
    assert all("--hash=sha256:" in block for block in re.split(r"\n(?=\S)", lock)
               if "==" in block)
