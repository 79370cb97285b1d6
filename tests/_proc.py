"""Process helpers for tests that start whole platforms or clusters."""

from __future__ import annotations

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


def kill_group_when_gone(pid: int, pgid: int) -> subprocess.Popen[bytes]:
    """A watchdog that SIGKILLs process group ``pgid`` once process ``pid`` is gone: a Ray
    head a test run started (a session of its own, so it outlives a control plane) must not
    outlive the test run when pytest is killed before its teardown."""
    return subprocess.Popen([sys.executable, "-c", WATCHDOG, str(pid), str(pgid)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
