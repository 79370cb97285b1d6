"""Where the portal's front-end code is: its own static files (in this package) and the
third-party packages `make install` put in ``node_modules`` with ``npm ci`` (pinned by
``frontend/package-lock.json``, never copied into the repository, never from a CDN)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
DEFAULT_NODE_MODULES = HERE / "frontend" / "node_modules"

VENDOR: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
}
"""What the pages load from node_modules, by the name they use."""


@dataclass
class Assets:
    """The files the portal serves, found once at start."""

    node_modules: Path = DEFAULT_NODE_MODULES
    _versions: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_setting(cls, value: str) -> Assets:
        return cls(Path(value).expanduser()) if value else cls()

    def vendor_file(self, name: str) -> Path | None:
        rel = VENDOR.get(name)
        if rel is None:
            return None
        path = self.node_modules / rel
        return path if path.is_file() else None

    def missing(self) -> list[str]:
        """The third-party files that are not installed (empty when all are)."""
        return [rel for name, rel in VENDOR.items() if self.vendor_file(name) is None]

    def static_file(self, name: str) -> Path | None:
        path = (STATIC / name).resolve()
        return path if path.parent == STATIC and path.is_file() else None

    def version(self, url_name: str) -> str:
        """A short digest of a served file, for cache-busting URLs (``?v=...``)."""
        found = self._versions.get(url_name)
        if found is None:
            kind, _, name = url_name.partition("/")
            path = self.vendor_file(name) if kind == "vendor" else self.static_file(name)
            found = hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path else "0"
            self._versions[url_name] = found
        return found
