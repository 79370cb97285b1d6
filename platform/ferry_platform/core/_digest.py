from __future__ import annotations

import hashlib
from pathlib import Path

REGISTRY_ARTIFACTS = frozenset({"registered_model_meta"})
"""Files MLflow adds when a model is downloaded by registry name; not part of the model."""


def directory_digest(path: str | Path, *, ignore: frozenset[str] = REGISTRY_ARTIFACTS) -> str:
    """SHA-256 over every file below ``path`` (relative names and contents, sorted).

    The same model artifacts give the same digest wherever they were downloaded to,
    so the registry's digest and a Bento's can be compared.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"nothing to digest at {root}")
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in ignore)
    for p in files:
        rel = p.name if root.is_file() else p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()
