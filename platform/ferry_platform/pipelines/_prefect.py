"""Prefect's API for a platform without a Prefect server: one local API server process
(Prefect's own server app, as its ephemeral mode starts it) over SQLite under
``FERRY_HOME/prefect``, started on first use, shared by every run of this control plane."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from ferry_contract import PlatformUnavailable

PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPrefectServer:
    """``api_url`` starts the server the first time it is asked for (≈ 10-20 s), then
    answers at once. The process gets Prefect's settings only, none of the platform's."""

    def __init__(self, home: Path, startup_s: float = 120.0) -> None:
        self.home = home
        self._startup_s = startup_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._lock = threading.Lock()
        self._atexit = False

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update({
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_DATABASE_CONNECTION_URL":
                f"sqlite+aiosqlite:///{self.home / 'prefect.db'}",
            "PREFECT_UI_ENABLED": "0",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "0",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        })
        return env

    @property
    def api_url(self) -> str:
        with self._lock:
            if self._url is not None and self._proc is not None and self._proc.poll() is None:
                return self._url
            self.home.mkdir(parents=True, exist_ok=True)
            port = _free_port()
            log = (self.home / "server.log").open("ab")
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory",
                 "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "error", "--lifespan", "on"],
                env=self._env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
            if not self._atexit:  # it lives in a session of its own: stop it with this process
                atexit.register(self.stop)
                self._atexit = True
            url = f"http://127.0.0.1:{port}/api"
            deadline = time.monotonic() + self._startup_s
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    break
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        self._url = url
                        return url
                except httpx.HTTPError:
                    pass
                time.sleep(0.25)
            self.stop()
            raise PlatformUnavailable(
                f"Prefect's local API server did not start within {self._startup_s:g}s (see "
                f"{self.home / 'server.log'}); or set FERRY_PREFECT_API_URL to a Prefect server")

    def stop(self) -> None:
        proc, self._proc, self._url = self._proc, None, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
