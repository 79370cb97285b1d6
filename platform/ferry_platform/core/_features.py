from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

STALE_SUFFIX = "__stale"
"""A fetcher's answer may hold, beside a feature's values, ``<feature>__stale``: per row,
whether the value found is older than its view's TTL (the monitoring counts it with the
lookups that found nothing)."""


class FeatureBinding(BaseModel):
    """How a serving replica gets the features its model was trained on.

    ``fetcher`` is an import path (``module:Class``) constructed with ``config``; its
    ``fetch(refs, entity_rows)`` returns one list per feature name. Serving imports it by
    path, so the serving capability does not depend on the features capability.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fetcher: str
    config: dict[str, Any]
    refs: list[str]  # pinned "view@vN:feature"
    entity_keys: dict[str, str]  # join key -> MLflow type of its values

    @property
    def feature_names(self) -> list[str]:
        return [r.split(":", 1)[1] for r in self.refs]
