from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from ferry_contract import ReferenceSample
from ferry_platform.monitoring._compute import ReleaseSpec


class Monitor(Protocol):
    """What the platform needs of production monitoring: each release's reference, reports
    of windows of the prediction log, canary checks, and outcomes joined by request id."""

    def record_reference(self, *, release_id: str, model: str, version: int,
                         signature: Sequence[tuple[str, str]], sample: ReferenceSample,
                         source: str) -> str:
        """Keep ``release_id``'s reference once (never replaced); its content digest."""
        ...

    def has_reference(self, release_id: str) -> bool: ...

    def reference(self, release_id: str) -> dict[str, Any] | None: ...

    def release_spec(self, release_id: str, model: str, version: int,
                     signature: Sequence[tuple[str, str]]) -> ReleaseSpec: ...

    def report(self, *, deployment: str, window: str, start: datetime, end: datetime,
               releases: Sequence[ReleaseSpec], thresholds: dict[str, Any],
               slice_columns: Sequence[str] = ()) -> dict[str, Any]:
        """The report of ``deployment``'s logged traffic in [start, end), per release."""
        ...

    def canary(self, *, deployment: str, stable: ReleaseSpec, candidate: ReleaseSpec,
               since: datetime, config: dict[str, Any],
               now: datetime | None = None) -> dict[str, Any]:
        """One check of a rollout's candidate against its stable arm since ``since``."""
        ...

    def find(self, deployment: str, models: Sequence[str], request_ids: Sequence[str],
             lookback: timedelta, now: datetime | None = None,
             ) -> dict[tuple[str, int], tuple[str, str, int]]:
        """(request id, row) -> (release id, arm, status) of the logged rows of those ids."""
        ...

    def active(self, models: Sequence[str], within_s: float) -> bool:
        """Whether the log of ``models`` was written in the last ``within_s`` seconds."""
        ...

    def save_outcomes(self, deployment: str, rows: list[dict[str, Any]]) -> None: ...

    def prune(self, retention_days: float, now: datetime | None = None) -> int:
        """Delete log hours older than the retention; how many."""
        ...
