"""Where a team's batch jobs may read and write: the team's data roots.

A batch job reads and writes with the platform's own access (the control plane lists and
checks the input; Ray workers read, score and write), so a location named by a user is
confined to the roots of the model's team before anything touches it: a local directory or
an ``s3://`` prefix per root, written as templates with ``{team}`` (``FERRY_BATCH_ROOTS``;
default ``$FERRY_HOME/batch/{team}``; on a stack, the team's prefix of the artifacts bucket).
A relative location is taken under the team's first root. The answer for a location outside
is the same whether it exists or not: nothing outside is read before the check.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence

from ferry_contract import Forbidden, InvalidRequest

S3 = "s3://"


class DataRoots:
    """The data roots of every team, from templates holding ``{team}``."""

    def __init__(self, templates: Sequence[str]) -> None:
        templates = [t.strip() for t in templates if t.strip()]
        if not templates:
            raise ValueError("FERRY_BATCH_ROOTS names no root; give at least one, e.g. "
                             "s3://bucket/teams/{team}/batch/")
        for t in templates:
            if "{team}" not in t:
                raise ValueError(f"batch root {t!r} has no {{team}}: every team would share it; "
                                 "write it as e.g. /data/{team} or s3://bucket/teams/{team}/batch/")
            if "://" in t and not t.startswith(S3):
                raise ValueError(f"batch root {t!r}: give a local directory or an s3:// prefix")
        self._templates = list(templates)

    def of(self, team: str) -> list[str]:
        """The team's roots, normalised (local: absolute with symlinks resolved)."""
        return [_normal(t.replace("{team}", team)) for t in self._templates]

    def confine(self, team: str, value: str, what: str) -> str:
        """``value`` as a location under one of ``team``'s roots; 403 naming the roots if it
        is outside, 400 if it is no location at all."""
        roots = self.of(team)
        if not value or any(ord(c) < 32 for c in value):
            raise InvalidRequest(f"batch {what} {value!r} is not a location; give a path "
                                 f"under {roots[0]} (e.g. 'customers/*.parquet')")
        if value.startswith("file://"):
            value = value.removeprefix("file://")
        if "://" in value and not value.startswith(S3):
            raise InvalidRequest(f"batch {what} {value!r}: give a path or an s3:// URI under "
                                 f"your team's data roots {roots}")
        if not value.startswith(S3) and not os.path.isabs(value):
            value = _join(roots[0], value)
        location = _normal(value)
        if not any(_under(location, root) for root in roots):
            raise Forbidden(
                f"batch {what} {value!r} is outside team {team!r}'s data roots {roots}: a "
                f"batch job reads and writes only there. Put the data under one of them; a "
                f"relative path (e.g. 'customers/*.parquet') is taken under {roots[0]}.",
                details={what: value, "team": team, "roots": roots})
        return location

    def check_files(self, team: str, files: Iterable[str], what: str) -> None:
        """Every listed local file must resolve (symlinks followed) under a root too."""
        roots = self.of(team)
        for f in files:
            if not f.startswith(S3) and not any(_under(_normal(f), r) for r in roots):
                raise Forbidden(f"batch {what} holds {posixpath.basename(f)!r}, a link to a "
                                f"file outside team {team!r}'s data roots {roots}; copy the "
                                "data under a root instead of linking it",
                                details={"team": team, "roots": roots})

    def prepare(self, team: str) -> None:
        """Create the team's local roots (a first job then finds its directory)."""
        for root in self.of(team):
            if not root.startswith(S3):
                os.makedirs(root, mode=0o700, exist_ok=True)


def _normal(location: str) -> str:
    if location.startswith(S3):
        bucket_and_key = location.removeprefix(S3)
        parts = bucket_and_key.rstrip("/").split("/")
        if any(p in ("..", ".", "") for p in parts):
            raise InvalidRequest(f"{location!r}: an s3:// location may not hold '.', '..' or "
                                 "empty segments; write the bucket and prefix out in full")
        return location
    return os.path.realpath(location)


def _join(root: str, relative: str) -> str:
    return (root.rstrip("/") + "/" + relative.lstrip("/") if root.startswith(S3)
            else os.path.join(root, relative))


def _under(location: str, root: str) -> bool:
    base = root.rstrip("/")
    return location == base or location.startswith(base + "/")
