"""Access: authentication by API token, team roles, and the audit log."""

from ferry_platform.access._service import (
    DEFAULT_TEAM,
    ROLES,
    SYSTEM,
    AccessService,
    IdentityStore,
    IssuedToken,
    Principal,
)

__all__ = ["DEFAULT_TEAM", "ROLES", "SYSTEM", "AccessService", "IdentityStore", "IssuedToken",
           "Principal"]
