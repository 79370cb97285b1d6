"""Client-side settings. Precedence: argument > ``FERRY_*`` environment > default."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_URL = "http://127.0.0.1:8700"


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FERRY_", extra="ignore")

    url: str = Field(DEFAULT_URL, description="Control-plane URL.")
    token: str | None = Field(None, description="API token (else `ferry login`'s).", repr=False)
    timeout_s: float = Field(600.0, gt=0, description="Timeout of control-plane calls.")
    predict_timeout_s: float = Field(30.0, gt=0, description="Timeout of one prediction.")
    home: Path = Field(default_factory=lambda: Path(os.environ.get("FERRY_HOME",
                                                                   Path.home() / ".ferry")))
