"""The self-service portal: server-rendered pages (Jinja2) with small htmx fragments,
served by the control plane under ``/portal``. It is one more client of the application
layer: every page reads and every action calls the same service the API routes call, so
the same policy table decides and the same audit log records. A session, exchanged for an
API token, carries that token's rights and ends with it (docs/portal.md, ADR 0005)."""

from ferry_server.portal._app import PORTAL_PREFIX, portal_router
from ferry_server.portal._assets import Assets

__all__ = ["PORTAL_PREFIX", "Assets", "portal_router"]
