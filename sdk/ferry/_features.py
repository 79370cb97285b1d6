"""Client-side view of training sets: a frame plus the exact feature versions behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENTITY_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class TrainingSet:
    """A point-in-time-correct training frame and the pinned refs (``view@vN:feature``) it
    was built from. Pass it as ``training_data`` to ``Client.register`` and the model version
    records those refs; entity keys and the timestamp are not model inputs."""

    frame: Any  # pandas DataFrame
    feature_refs: list[str]
    entity_columns: list[str] = field(default_factory=list)

    def features_only(self) -> Any:
        return self.frame.drop(columns=[c for c in self.entity_columns if c in self.frame])
