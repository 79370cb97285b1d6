"""The hidden generator of feature snapshots and the point-in-time truth, shared by the
feature tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["tenure_months", "monthly_charges", "support_tickets"]
T0 = datetime(2026, 6, 1, tzinfo=UTC)
TTL = timedelta(days=30)


def snapshots(n_customers: int = 40, n_snapshots: int = 6, seed: int = 5,
              t0: datetime = T0) -> pd.DataFrame:
    """Hidden generator: weekly snapshots whose values are a known function of (id, week)."""
    rng = np.random.default_rng(seed)
    rows = []
    for cid in range(1, n_customers + 1):
        start = rng.integers(0, 3)
        for week in range(start, start + n_snapshots):
            rows.append({"customer_id": cid, "event_timestamp": t0 + timedelta(weeks=int(week)),
                         "tenure_months": 10 * cid + week, "monthly_charges": cid + week / 100,
                         "support_tickets": week % 3, "lifetime_value": 1000.0 * cid + week})
    df = pd.DataFrame(rows)
    df["event_timestamp"] = df["event_timestamp"].astype("datetime64[us, UTC]")
    return df


def expected(entities: pd.DataFrame, data: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Point-in-time truth computed independently of Feast: last snapshot at or before the
    row's time and within the TTL, else missing."""
    left = entities.assign(_row=range(len(entities)))
    left["event_timestamp"] = pd.to_datetime(left["event_timestamp"], utc=True).astype(
        "datetime64[us, UTC]")
    left = left.sort_values("event_timestamp")
    right = data.sort_values("event_timestamp")[["customer_id", "event_timestamp", *cols]]
    merged = pd.merge_asof(left, right, on="event_timestamp", by="customer_id",
                           direction="backward", tolerance=pd.Timedelta(TTL))
    return merged.sort_values("_row").reset_index(drop=True)[cols]


def entity_rows(t0: datetime = T0) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    ids = rng.integers(1, 45, 300)  # ids 41-44 are unknown
    hours = rng.integers(-24 * 7, 24 * 7 * 14, 300)
    return pd.DataFrame({"customer_id": ids,
                         "event_timestamp": [t0 + timedelta(hours=int(h)) for h in hours]})




# The session's feature repository holds recent data, so its views are fresh enough to serve.
RECENT_T0 = (datetime.now(UTC) - timedelta(weeks=7)).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
