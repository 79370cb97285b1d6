"""Cron schedules (UTC): when a pipeline (or a feature view's materialization) is next due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ferry_contract import InvalidRequest


def next_after(cron: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``cron`` names (UTC)."""
    from cronsim import CronSim, CronSimError

    try:
        it = CronSim(cron, after.astimezone(UTC).replace(second=0, microsecond=0))
        return next(it).astimezone(UTC)
    except (CronSimError, StopIteration) as e:
        raise InvalidRequest(f"schedule {cron!r} is not a cron expression ({e}); give five "
                             "fields 'minute hour day-of-month month day-of-week', e.g. "
                             "'0 3 * * *'") from e


def due(cron: str, last: datetime, now: datetime) -> datetime | None:
    """The latest time ``cron`` named in (``last``, ``now``], or None: a schedule that
    missed several times (the control plane was down) runs once, not once per miss."""
    nxt = next_after(cron, max(last, now - timedelta(days=31)))
    if nxt > now:
        return None
    latest = nxt
    while True:
        following = next_after(cron, latest)
        if following > now:
            return latest
        latest = following
