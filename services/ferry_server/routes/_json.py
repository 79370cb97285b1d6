"""Answers served as stored: the catalog's JSON, validated when it was written."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response


class CatalogJSON(Response):
    """A JSON answer of already-validated data, without a second validation per read."""

    media_type = "application/json"

    def __init__(self, payload: Any) -> None:
        super().__init__(json.dumps(payload, separators=(",", ":")))
