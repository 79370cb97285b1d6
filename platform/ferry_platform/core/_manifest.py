from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ferry_contract import ColumnSpec, ReleasePublic

LABEL_PREFIX = "ferry."
"""Bento labels carrying the manifest are named ``ferry.<field>``."""


class ReleaseManifest(BaseModel):
    """Everything that makes a release one immutable unit.

    Written into the Bento's labels at build time and read back by every replica, so a
    running replica can always say exactly which weights, code and data answered.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    release_id: str
    model: str
    version: int
    model_uri: str
    model_digest: str
    training_data_digest: str
    code_version: str
    framework: str
    signature: list[ColumnSpec]
    ferry_version: str
    bento_tag: str
    bento_uri: str = ""
    requirements: list[str] = Field(default_factory=list)
    created_at: datetime | None = None

    def to_labels(self) -> dict[str, str]:
        """Bento labels: plain strings as they are, everything else as JSON."""
        out: dict[str, str] = {}
        for key, value in self.model_dump(mode="json").items():
            plain = type(self).model_fields[key].annotation is str
            out[LABEL_PREFIX + key] = value if plain else json.dumps(value, sort_keys=True)
        return out

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> ReleaseManifest:
        data: dict[str, Any] = {}
        for field, info in cls.model_fields.items():
            raw = labels.get(LABEL_PREFIX + field)
            if raw is None:
                continue
            data[field] = raw if info.annotation is str else json.loads(raw)
        return cls.model_validate(data)

    def to_public(self) -> ReleasePublic:
        return ReleasePublic.model_validate(
            self.model_dump(include=set(ReleasePublic.model_fields)))
