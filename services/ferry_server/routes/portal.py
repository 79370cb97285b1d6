"""The portal's one API call: a one-time sign-in link for the caller's own token (what
``ferry login --portal`` prints). The portal's pages are served under ``/portal``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends

from ferry_contract import PortalLinkPublic
from ferry_server.deps import AppDep, PlatformDep, PrincipalDep, get_principal

router = APIRouter(prefix="/v1/portal", tags=["portal"], dependencies=[Depends(get_principal)])


@router.post("/links", response_model=PortalLinkPublic, status_code=201)
def create_sign_in_link(app: AppDep, platform: PlatformDep, who: PrincipalDep) -> PortalLinkPublic:
    """A link that signs its opener in to the portal as the caller's token (once, within
    FERRY_PORTAL_LINK_TTL_S). Not with a predict-only token."""
    secret, until = app.identity.sign_in_link(who)
    base = platform.settings.public_url.rstrip("/")
    return PortalLinkPublic(url=f"{base}/portal/sign-in/link?token={quote(secret)}",
                            expires_at=until)
