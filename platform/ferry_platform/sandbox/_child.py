"""The isolated process: ``python -I _child.py WORKDIR MEMORY_MB PARENT_PID``.

Run as a script with the standard library only, so that nothing of Ferry (or any model
code) is loaded before the process has locked itself down: it dies with its parent,
caps its memory (data segment and address space), forbids core dumps and large files.
Then it reads the request the trusted side wrote (``request.pkl``: target and payload),
calls the target, and writes ``result.json`` — ``{"ok": value}`` or ``{"error": {"kind",
"message"}}``. Its environment was built by the launcher from an allowlist; it holds no
secret.
"""

import ctypes
import importlib
import json
import os
import pickle
import resource
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1
MB = 1 << 20


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the launcher's timeout still holds
        pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(70)


def _limit(memory_mb: int) -> None:
    data = memory_mb * MB
    # The data limit caps what a process allocates (heap, anonymous mappings: numpy
    # arrays). Shared anonymous mappings escape it, so the address space is capped too,
    # with room for the virtual reservations (thread stacks, allocator arenas) of a
    # normal interpreter.
    resource.setrlimit(resource.RLIMIT_DATA, (data, data))
    space = 2 * data + 1024 * MB
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    files = max(data, 1024 * MB)
    resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))


def _write(workdir: Path, envelope: dict) -> None:
    try:
        text = json.dumps(envelope)
    except (TypeError, ValueError) as e:
        text = json.dumps({"error": {"kind": "raised", "message":
                                     f"the result is not plain JSON: {type(e).__name__}: {e}"}})
    partial = workdir / "result.json.partial"
    partial.write_text(text)
    partial.replace(workdir / "result.json")


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (f"{type(e).__name__}: {text[-1]}" if text else type(e).__name__)[:1000]


def main(argv: list[str]) -> int:
    workdir, memory_mb, parent = Path(argv[1]), int(argv[2]), int(argv[3])
    _die_with_parent(parent)
    _limit(memory_mb)
    request = pickle.loads((workdir / "request.pkl").read_bytes())
    (workdir / "request.pkl").unlink()
    try:
        module, _, name = str(request["target"]).partition(":")
        target = getattr(importlib.import_module(module), name)
        envelope: dict = {"ok": target(request["payload"])}
    except MemoryError as e:
        envelope = {"error": {"kind": "memory", "message": _describe(e) if str(e) else
                              f"MemoryError: more than {memory_mb} MB were needed"}}
    except BaseException as e:  # noqa: BLE001 - everything the target does is reported
        envelope = {"error": {"kind": "raised", "message": _describe(e)}}
    del request
    _write(workdir, envelope)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
