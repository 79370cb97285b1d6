"""Schemas of the portal's API calls (the portal itself answers HTML)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PortalLinkPublic(BaseModel):
    """A one-time sign-in link to the portal: opens a session for the token that asked
    for it; used once, within its lifetime."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="open it in a browser (it holds a one-time secret)")
    expires_at: datetime
