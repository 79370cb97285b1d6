"""Starting the isolated process and reading its answer; the same on the control plane's
machine (:class:`ProcessSandbox`) and inside a Ray worker (:class:`RaySandbox`)."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = Path(__file__).with_name("_child.py")
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
"""The only variables of the launcher's environment the isolated process gets."""
THREADS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MAX_RESULT_BYTES = 512 << 20

_SECRET_NAME = re.compile(
    r"^(FERRY_|AWS_|AZURE_|GOOGLE_|MLFLOW_|DATABASE|PG|REDIS)"
    r"|SECRET|TOKEN|PASSW|CREDENTIAL|PRIVATE|(^|_)KEY($|_)|_DSN$|_URL$|_URI$", re.IGNORECASE)


def secret_looking(name: str) -> bool:
    """Whether an environment variable may hold a secret (credentials, tokens, URLs with
    passwords, any of Ferry's settings)."""
    return bool(_SECRET_NAME.search(name))


def scrub_environ() -> list[str]:
    """Drop secret-looking variables from this process's environment (a Ray worker may
    have inherited the head's); returns their names."""
    dropped = [k for k in os.environ if secret_looking(k) and not k.startswith("RAY_")]
    for k in dropped:
        os.environ.pop(k, None)
    return dropped


def child_env(workdir: Path) -> dict[str, str]:
    """The isolated process's whole environment: an allowlist, never the launcher's."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update({k: os.environ.get(k, "1") for k in THREADS_ENV})
    env.update({"HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp"),
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    return env


def _exited(pid: int, timeout_s: float) -> bool:
    """Wait for ``pid`` to exit without reaping it (so its process group id cannot be
    reused before the group is killed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _kill_group(proc: subprocess.Popen[bytes]) -> int:
    """Kill the isolated process and everything it started (its own session), then reap
    it; its exit code."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.wait()


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message}}


def run_isolated(target: str, payload: Any, *, timeout_s: float,
                 memory_mb: int) -> dict[str, Any]:
    """Run ``target(payload)`` in a fresh process; its envelope (``{"ok": value}`` or
    ``{"error": {"kind", "message"}}``), never raised, so it crosses any boundary."""
    with tempfile.TemporaryDirectory(prefix="ferry-sandbox-",
                                     ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        (work / "tmp").mkdir()
        (work / "request.pkl").write_bytes(
            pickle.dumps({"target": target, "payload": payload}, protocol=5))
        stderr = work / "stderr"
        with open(work / "stdout", "wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(CHILD), str(work), str(int(memory_mb)),
                 str(os.getpid())],
                cwd=work / "home", env=child_env(work), stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True, close_fds=True)
            if not _exited(proc.pid, timeout_s):
                _kill_group(proc)
                return _error("timeout", f"no answer within {timeout_s:g}s; stopped")
            code = _kill_group(proc)  # and whatever it started and left behind
        result = work / "result.json"
        if result.exists() and result.stat().st_size <= MAX_RESULT_BYTES:
            try:
                envelope = json.loads(result.read_text())
            except ValueError:
                envelope = None
            if isinstance(envelope, dict) and ("ok" in envelope or "error" in envelope):
                return envelope
        if result.exists() and result.stat().st_size > MAX_RESULT_BYTES:
            return _error("crashed", f"its answer is larger than {MAX_RESULT_BYTES >> 20} MB")
        if code < 0:
            name = signal.Signals(-code).name
            hint = " (the machine's out-of-memory killer?)" if -code == signal.SIGKILL else ""
            return _error("crashed", f"killed by {name}{hint}")
        last = _last_line(stderr)
        if "MemoryError" in last or "Cannot allocate memory" in last or "bad_alloc" in last:
            return _error("memory", f"more than {memory_mb} MB were needed ({last})")
        return _error("crashed", f"exited with code {code} without an answer"
                      + (f": {last}" if last else ""))
