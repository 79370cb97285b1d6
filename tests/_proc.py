"""Process helpers for tests that start whole platforms or clusters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WATCHDOG = """
import os, signal, sys, time
pid, pgid = int(sys.argv[1]), int(sys.argv[2])
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    time.sleep(1)
try:
    os.killpg(pgid, signal.SIGKILL)
except OSError:
    pass
"""


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state; field 6: the session id
            pids.append(int(stat.parent.name))
    return pids


def sandbox_children() -> list[int]:
    """Live processes the evaluation sandbox's launcher started for this test process:
    launched by it (the process sandbox) or by a Ray worker (the Ray sandbox: only the
    pytest-xdist worker holding the run's Ray has one), or whose launcher is gone (a leak).
    The other xdist worker's own process-sandbox children are not this test's."""
    from ferry_platform.sandbox._launch import CHILD

    needle = str(Path(CHILD)).encode()
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
            if needle not in argv:
                continue
            launcher = int(argv[argv.index(needle) + 3])  # CHILD, workdir, memory, launcher
            if launcher != os.getpid() and not _ray_or_gone(launcher):
                continue
            out.append(int(cmdline.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return out


def _ray_or_gone(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"ray::" in argv or b"default_worker" in argv


def kill_group_when_gone(pid: int, pgid: int) -> subprocess.Popen[bytes]:
    """A watchdog that SIGKILLs process group ``pgid`` once process ``pid`` is gone: a Ray
    head a test run started (a session of its own, so it outlives a control plane) must not
    outlive the test run when pytest is killed before its teardown."""
    return subprocess.Popen([sys.executable, "-c", WATCHDOG, str(pid), str(pgid)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
