"""Start and stop the embedded local platform as background processes: the control plane,
and the Ray head it starts in a session of its own (so that serving goes on while the
control plane restarts or is killed). ``down`` stops both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ferry_contract import PlatformUnavailable


@dataclass(frozen=True)
class LocalPlatform:
    home: Path
    url: str

    @property
    def pid_file(self) -> Path:
        return self.home / "control-plane.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "control-plane.log"

    @property
    def ray_head_file(self) -> Path:
        """Written by the control plane: the local Ray head's address and session id."""
        return self.home / "ray" / "head.json"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def admin_token(self) -> str:
        """The admin API token the platform created on its first start."""
        path = self.home / "admin-token"
        try:
            return path.read_text().strip()
        except OSError as e:
            raise PlatformUnavailable(f"no admin token in {path}: has this platform been "
                                      "started (`ferry up`)?") from e

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def up(self, *, timeout_s: float = 240, on_wait: Callable[[float], None] | None = None,
           env: dict[str, str] | None = None) -> int:
        """Start the platform unless it runs; return the control plane's pid."""
        running = self.pid()
        if running and self.healthy():
            return running
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        host, port = self.url.split("://", 1)[-1].rsplit(":", 1)
        child_env = {**os.environ, **(env or {}), "FERRY_HOME": str(self.home),
                     "FERRY_HOST": host, "FERRY_PORT": port.rstrip("/")}
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ferry_server"], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=child_env, start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise PlatformUnavailable(
                    f"the control plane exited with code {proc.returncode} while starting. "
                    f"Last lines of {self.log_file}:\n{self.tail()}")
            if self.healthy():
                return proc.pid
            if on_wait:
                on_wait(time.monotonic() - start)
            time.sleep(0.5)
        self.down()
        raise PlatformUnavailable(
            f"the control plane did not answer within {timeout_s:.0f}s. "
            f"Last lines of {self.log_file}:\n{self.tail()}")

    def down(self, *, timeout_s: float = 90) -> bool:
        """Stop the control plane, then the Ray head it started (serving stops). False if
        neither was running."""
        stopped = self._stop_control_plane(timeout_s)
        return self._stop_ray_head() or stopped

    def _stop_ray_head(self, grace_s: float = 5) -> bool:
        """Every process of the head's session (Ray, Serve, replicas, HAProxy) and nothing
        else: not `ray stop`, which stops every Ray on the machine. By session, not process
        group: Ray's workers make groups of their own, and Serve's HAProxy runs in one."""
        try:
            sid = int(json.loads(self.ray_head_file.read_text())["session"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        was = _signal_session(sid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _session_alive(sid):
            time.sleep(0.2)
        for _ in range(50):  # Ray's GCS may hang on SIGTERM once the raylet is gone
            _signal_session(sid, signal.SIGKILL)
            if not _session_alive(sid):
                break
            time.sleep(0.2)
        self.ray_head_file.unlink(missing_ok=True)
        return was

    def _stop_control_plane(self, timeout_s: float) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            _reap(pid)
            time.sleep(0.3)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``, from /proc (Linux; else none)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def _signal_session(sid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to every process of session ``sid`` (its leader's process group, and
    any member in a group of its own); whether there was any."""
    found = False
    try:
        os.killpg(sid, sig)
        found = True
    except OSError:
        pass
    for pid in _session_members(sid):
        try:
            os.kill(pid, sig)
            found = True
        except OSError:
            pass
    return found


def _session_alive(sid: int) -> bool:
    if _session_members(sid):
        return True
    try:
        os.killpg(sid, 0)
        return True
    except OSError:
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
