"""Telling "a data store is down" from a bug, without importing the drivers."""

from __future__ import annotations

from ferry_contract import PlatformUnavailable

_KINDS = {"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError",
          "ConnectionError", "BusyLoadingError"}
_STORES = {"sqlalchemy", "psycopg2", "psycopg", "sqlite3", "pymysql", "redis"}


def unavailable(exc: BaseException) -> PlatformUnavailable | None:
    """A :class:`PlatformUnavailable` (503) if ``exc`` or its causes say a database or
    Redis could not be reached or used; None for anything else. The message names the
    settings to check, never their values."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PlatformUnavailable):
            return current
        kind = type(current)
        if kind.__name__ in _KINDS and kind.__module__.split(".", 1)[0] in _STORES:
            return PlatformUnavailable(
                f"a data store the control plane depends on is unavailable ({kind.__name__}); "
                "retry later, or ask the platform's operator to check FERRY_DATABASE_URL, "
                "FERRY_MLFLOW_TRACKING_URI and FERRY_FEATURE_REDIS.",
                details={"cause": kind.__name__})
        current = current.__cause__ or current.__context__
    return None
