"""Features capability: versioned feature views on Feast, point-in-time training sets.

Feast 0.67's own feature-view versioning is used as it is (``view@vN:feature`` refs,
per-version online tables); Ferry adds what Feast lacks: a plan that says which views get
a new version, re-applies that keep the active version, and training sets that record the
exact pinned refs they were built from. docs/research/feast-0.67-versioning.md has the
measurements behind each choice.
"""

from ferry_platform.features._feast import (
    OFFLINE_JOINER,
    ONLINE_FETCHER,
    TEAM_TAG,
    FeastFeatures,
    FeatureVersion,
    FeatureViewInfo,
    Freshness,
    OfflineJoin,
    OnlineFetcher,
    PlannedChange,
    TrainingSet,
)

__all__ = [
    "OFFLINE_JOINER",
    "ONLINE_FETCHER",
    "TEAM_TAG",
    "FeastFeatures",
    "FeatureVersion",
    "FeatureViewInfo",
    "Freshness",
    "OfflineJoin",
    "OnlineFetcher",
    "PlannedChange",
    "TrainingSet",
]
