"""The local platform's Ray head, run as a process of its own so serving outlives the
control plane.

Without ``FERRY_RAY_ADDRESS`` the control plane does not embed Ray (``ray.init()`` would
make Ray a child of the control plane, and a crash of the control plane would take every
deployment with it). It starts ``ray start --head`` in a session of its own, with the
environment of :func:`worker_environment` (no secrets of the control plane) plus what Serve
needs, records the address under ``$FERRY_HOME/ray/head.json`` and connects to it. The next
control plane on the same home finds the head alive and attaches to it: Serve's controller
and replicas (detached actors) kept answering in between. ``ferry down`` stops the head
(:meth:`LocalRayHead.stop`) by the session it was started in, never with ``ray stop``,
which would stop every Ray on the machine.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from hashlib import sha256
from pathlib import Path

from ferry_contract import PlatformUnavailable
from ferry_platform.serving._environment import worker_environment

log = logging.getLogger("ferry.serving")


@dataclass(frozen=True)
class HeadRecord:
    """What ``$FERRY_HOME/ray/head.json`` says of the running head."""

    address: str  # host:port of its GCS
    session: int  # the session id every process of the head runs in
    num_cpus: int
    temp_dir: str
    started_at: float


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid`` (Linux: read from /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ..., session id
            pids.append(int(stat.parent.name))
    return pids


def _alive(sid: int) -> bool:
    if Path("/proc/self/stat").exists():
        return bool(session_members(sid))
    try:  # elsewhere: the process group the session leader made
        os.killpg(sid, 0)
        return True
    except OSError:
        return False


def _reachable(address: str, timeout_s: float = 2.0) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRayHead:
    """The detached Ray head of the local platform whose state is ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.dir = home / "ray"
        self.record_file = self.dir / "head.json"
        self.log_file = home / "logs" / "ray-head.log"
        # Ray's unix sockets live under it: keep the path short (at most 107 characters).
        tag = sha256(str(home.resolve()).encode()).hexdigest()[:10]
        self.temp_dir = Path(tempfile.gettempdir()) / f"ferry-ray-{tag}"

    def record(self) -> HeadRecord | None:
        try:
            return HeadRecord(**json.loads(self.record_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def running(self) -> HeadRecord | None:
        """The recorded head if its processes are alive and its GCS answers."""
        rec = self.record()
        if rec is None or not _alive(rec.session) or not _reachable(rec.address):
            return None
        return rec

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Two control planes starting on one home start one head."""
        import fcntl

        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "head.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def ensure(self, num_cpus: int, env: Mapping[str, str], timeout_s: float = 120) -> str:
        """The address of this home's head: the running one, or one started now with
        ``num_cpus`` logical CPUs and the scrubbed environment plus ``env``."""
        with self._exclusive():
            rec = self.running()
            if rec is not None:
                if rec.num_cpus != num_cpus:
                    log.warning("the running Ray head has %d CPUs, FERRY_RAY_NUM_CPUS says %d: "
                                "it takes effect after `ferry down`", rec.num_cpus, num_cpus)
                log.info("attaching to the running Ray head at %s", rec.address)
                return rec.address
            self._stop_leftovers()
            return self._start(num_cpus, env, timeout_s).address

    def _start(self, num_cpus: int, env: Mapping[str, str], timeout_s: float) -> HeadRecord:
        gcs = _free_port()
        address = f"127.0.0.1:{gcs}"
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head",
               f"--port={gcs}", f"--num-cpus={num_cpus}", "--include-dashboard=false",
               "--disable-usage-stats", "--node-ip-address=127.0.0.1",
               f"--temp-dir={self.temp_dir}",
               # Ray's fixed default ports would collide with another Ray on the machine.
               f"--ray-client-server-port={_free_port()}",
               f"--dashboard-agent-listen-port={_free_port()}"]
        child_env = {**worker_environment(os.environ), **env}
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting a Ray head at %s (%d CPUs)", address, num_cpus)
        t0 = time.monotonic()
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        rec = HeadRecord(address=address, session=proc.pid, num_cpus=num_cpus,
                         temp_dir=str(self.temp_dir), started_at=time.time())
        try:
            code = proc.wait(timeout_s)  # `ray start` returns once the node runs
        except subprocess.TimeoutExpired:
            code = None
        if code != 0 or not _reachable(address):
            self._kill(rec.session)
            raise PlatformUnavailable(
                f"could not start a local Ray head ({'timed out' if code is None else code}); "
                f"last lines of {self.log_file}:\n{self._tail()}")
        self.record_file.write_text(json.dumps(asdict(rec)))
        log.info("Ray head started in %.1fs", time.monotonic() - t0)
        return rec

    def stop(self, grace_s: float = 5) -> bool:
        """Stop this home's head and everything it runs (Serve, replicas, HAProxy): every
        process of its session. False if none was running."""
        rec = self.record()
        if rec is None:
            return False
        was = _alive(rec.session)
        self._kill(rec.session, grace_s)
        self.record_file.unlink(missing_ok=True)
        return was

    def _stop_leftovers(self) -> None:
        """A head recorded but not answering (half dead): end what is left of it."""
        rec = self.record()
        if rec is not None:
            if _alive(rec.session):
                log.warning("the recorded Ray head at %s does not answer: stopping what is "
                            "left of it", rec.address)
                self._kill(rec.session)
            self.record_file.unlink(missing_ok=True)

    @staticmethod
    def _kill(sid: int, grace_s: float = 5) -> None:
        """SIGTERM every process of session ``sid``, SIGKILL what is left after
        ``grace_s`` (Ray's GCS may hang once the raylet is gone). By session, not process
        group: Ray's workers make groups of their own, and Serve's HAProxy runs in one.
        A session id is never reused while a process of it lives."""
        def signal_all(sig: signal.Signals) -> None:
            try:
                os.killpg(sid, sig)
            except OSError:
                pass
            for pid in session_members(sid):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass

        signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while _alive(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(50):
            signal_all(signal.SIGKILL)
            if not _alive(sid):
                return
            time.sleep(0.2)
        raise PlatformUnavailable(f"the processes of Ray's session {sid} did not stop")

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
