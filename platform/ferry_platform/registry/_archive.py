"""Unpacking an uploaded model archive without trusting it.

The archive is a gzip-compressed tar of one MLflow model directory (``MLmodel`` at its
root). It comes from any authenticated client, so it is read as hostile: one pass over the
stream, only regular files and directories (no symlinks, hard links, devices, FIFOs or
sparse files), only relative names without ``..``, no name twice, at most
:data:`MAX_MEMBERS` entries and a cap on the bytes it unpacks to (a small archive may
claim gigabytes: the sizes are counted before anything is written). ``MLmodel`` is parsed
with a safe YAML loader and checked; the model itself is never loaded, unpickled or
imported by the control plane.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ferry_contract import InvalidRequest

MAX_MEMBERS = 10_000
MAX_NAME = 1024
MAX_DEPTH = 32
MAX_MLMODEL_BYTES = 1 << 20
MLMODEL = "MLmodel"
PYFUNC = "python_function"
_CHUNK = 1 << 20


def _refuse(problem: str) -> InvalidRequest:
    return InvalidRequest(
        f"the model archive is refused: {problem}. Upload a gzip-compressed tar of one MLflow "
        "model directory (MLmodel at its root, regular files and directories only), as "
        "ferry.Client().register() does.", details={"problem": problem})


def _relative(name: str) -> PurePosixPath | None:
    """The member's path inside the model directory; None for the root itself."""
    if not name or len(name) > MAX_NAME or "\x00" in name or "\\" in name:
        raise _refuse(f"the entry name {name[:80]!r} is not a plain relative path")
    if name.startswith("/"):
        raise _refuse(f"the entry {name[:80]!r} has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if ".." in parts:
        raise _refuse(f"the entry {name[:80]!r} leads outside the model directory ('..')")
    if len(parts) > MAX_DEPTH:
        raise _refuse(f"the entry {name[:80]!r} is nested deeper than {MAX_DEPTH} levels")
    return PurePosixPath(*parts) if parts else None


def unpack(archive: IO[bytes], dst: Path, *, max_bytes: int,
           max_members: int = MAX_MEMBERS) -> int:
    """Unpack ``archive`` into the empty directory ``dst``; returns the bytes written."""
    written = 0
    members = 0
    try:
        with tarfile.open(fileobj=archive, mode="r|gz") as tar:
            for member in tar:
                members += 1
                if members > max_members:
                    raise _refuse(f"it has more than {max_members:,} entries")
                rel = _relative(member.name)
                if member.isdir():
                    if rel is not None:
                        target = dst.joinpath(rel)
                        if target.exists() and not target.is_dir():
                            raise _refuse(f"{str(rel)!r} is both a file and a directory")
                        target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile() or member.issparse() or rel is None:
                    kind = ("a symbolic link" if member.issym() else
                            "a hard link" if member.islnk() else
                            "a device or FIFO" if member.isdev() else "not a regular file")
                    raise _refuse(f"the entry {member.name[:80]!r} is {kind}")
                written += member.size
                if written > max_bytes:
                    raise _refuse(f"it unpacks to more than {max_bytes:,} bytes "
                                  "(FERRY_MAX_MODEL_UNPACKED_MB)")
                target = dst.joinpath(rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                try:
                    fd = os.open(target, flags, 0o644)
                except FileExistsError:
                    raise _refuse(f"the entry {str(rel)!r} appears twice") from None
                except (IsADirectoryError, NotADirectoryError):
                    raise _refuse(f"{str(rel)!r} is both a file and a directory") from None
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _refuse(f"it is not a complete gzip-compressed tar ({type(e).__name__})") from e
    if members == 0:
        raise _refuse("it is empty")
    return written


def read_mlmodel(model_dir: Path) -> dict[str, Any]:
    """``MLmodel`` of an unpacked model directory, parsed with a safe loader (no Python
    objects, no tags that construct anything)."""
    import yaml

    path = model_dir / MLMODEL
    if not path.is_file() or path.is_symlink():
        raise _refuse(f"it has no {MLMODEL} file at its root")
    if path.stat().st_size > MAX_MLMODEL_BYTES:
        raise _refuse(f"its {MLMODEL} is larger than {MAX_MLMODEL_BYTES:,} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise _refuse(f"its {MLMODEL} is not valid YAML ({type(e).__name__})") from e
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise _refuse(f"its {MLMODEL} has no 'flavors' mapping")
    return data


def check_mlmodel(data: dict[str, Any], framework: str) -> None:
    """The flavours Ferry serves: the framework's own and a python_function flavour that
    loads through MLflow's loader for that framework, with no extra code paths."""
    flavors = data["flavors"]
    if framework not in flavors:
        raise _refuse(f"its {MLMODEL} has no {framework!r} flavor (flavors: {sorted(flavors)[:10]})")
    pyfunc = flavors.get(PYFUNC)
    if not isinstance(pyfunc, dict):
        raise _refuse(f"its {MLMODEL} has no {PYFUNC!r} flavor")
    loader = pyfunc.get("loader_module")
    if loader != f"mlflow.{framework}":
        raise _refuse(f"its {PYFUNC} flavor loads through {str(loader)[:80]!r}, not "
                      f"'mlflow.{framework}'")
    if pyfunc.get("code") or data.get("code_paths"):
        raise _refuse("it ships code paths; Ferry registers models without extra code")
    signature = data.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), str):
        raise _refuse(f"its {MLMODEL} has no signature; Ferry needs named input columns "
                      "(register() infers them from training_data)")
    try:
        json.loads(signature["inputs"])
    except ValueError as e:
        raise _refuse("its signature's inputs are not JSON") from e


def write_mlmodel(model_dir: Path, data: dict[str, Any]) -> None:
    import yaml

    (model_dir / MLMODEL).write_text(yaml.safe_dump(data, default_flow_style=False))
