"""Access: who the caller is (API tokens, users, team roles) and the audit log."""

from ferry_platform.access._service import (
    DEFAULT_TEAM,
    RANK,
    ROLES,
    SCOPES,
    SYSTEM,
    AccessService,
    IdentityStore,
    IssuedToken,
    Principal,
    digest,
)

__all__ = ["DEFAULT_TEAM", "RANK", "ROLES", "SCOPES", "SYSTEM", "AccessService", "IdentityStore",
           "IssuedToken", "Principal", "digest"]
