"""Process helpers for tests that start whole platforms or clusters."""

from __future__ import annotations

from pathlib import Path


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
