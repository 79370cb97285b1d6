"""Ferry's sample feature repository: customer statistics, versioned by Feast.

Data: ``data/customer_stats.parquet`` beside this file (``customer_id``,
``event_timestamp`` and the features). Change the schema below and ``ferry features plan``
shows the new version it would create.
"""

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64
from feast.value_type import ValueType

DATA = Path(__file__).resolve().parent / "data"

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64,
                  description="A paying customer.")

customer_stats_source = FileSource(
    name="customer_stats_source",
    path=str(DATA / "customer_stats.parquet"),
    timestamp_field="event_timestamp",
)

customer_stats = FeatureView(
    name="customer_stats",
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="tenure_months", dtype=Int64),
        Field(name="monthly_charges", dtype=Float64),
        Field(name="support_tickets", dtype=Int64),
    ],
    source=customer_stats_source,
    description="Monthly snapshot of each customer's account.",
)
