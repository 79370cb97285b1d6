"""Access: authentication by API token, team roles, and the audit log."""

from ferry_platform.access._service import (
    DEFAULT_TEAM,
    ROLES,
    SYSTEM,
    AccessService,
    IdentityStore,
    IssuedToken,
    Principal,
    check_name,
)

__all__ = ["DEFAULT_TEAM", "ROLES", "SYSTEM", "AccessService", "IdentityStore", "IssuedToken",
           "Principal", "check_name"]
