"""Where the SDK finds its API token: argument > FERRY_TOKEN > the credentials file that
``ferry login`` writes (per control-plane URL) > the local platform's admin token.

The credentials file is ``$FERRY_HOME/credentials.json`` (default ``~/.ferry``), mode 600.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ferry._config import DEFAULT_URL


def _path(home: Path) -> Path:
    return home / "credentials.json"


def _read(home: Path) -> dict[str, str]:
    try:
        data = json.loads(_path(home).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def load(home: Path, url: str) -> str | None:
    token = _read(home).get(url.rstrip("/"))
    if token:
        return token
    if url.rstrip("/") == DEFAULT_URL:  # the embedded platform this user started
        try:
            return (home / "admin-token").read_text().strip() or None
        except OSError:
            return None
    return None


def _write(home: Path, data: dict[str, str]) -> Path:
    """Mode 0600 in a 0700 home, also when they existed with looser modes."""
    path = _path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.parent.stat().st_uid == os.getuid():
        path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    return path


def save(home: Path, url: str, token: str) -> Path:
    data = _read(home)
    data[url.rstrip("/")] = token
    return _write(home, data)


def forget(home: Path, url: str) -> bool:
    data = _read(home)
    if data.pop(url.rstrip("/"), None) is None:
        return False
    _write(home, data)
    return True
