"""A target that reports what an isolated process sees — its process, parent, environment
(as Python sees it and as the kernel recorded it at exec) and limits — to check a
deployment's isolation: ``sandbox.run("ferry_platform.sandbox._probe:describe", None, ...)``."""

from __future__ import annotations

import os
import resource
from typing import Any


def describe(_payload: Any = None) -> dict[str, Any]:
    try:
        with open("/proc/self/environ", "rb") as f:
            recorded: str | None = f.read().decode("utf-8", "replace")
    except OSError:
        recorded = None
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "environ": dict(os.environ),
        "proc_environ": recorded,
        "limits": {"data": resource.getrlimit(resource.RLIMIT_DATA)[0],
                   "address_space": resource.getrlimit(resource.RLIMIT_AS)[0]},
    }
