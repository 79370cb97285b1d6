"""Access: who the caller is (API tokens, users, team roles) and the audit log."""

from ferry_platform.access._service import (
    DEFAULT_TEAM,
    LINK_PREFIX,
    RANK,
    ROLES,
    SCOPES,
    SESSION_PREFIX,
    SYSTEM,
    AccessService,
    IdentityStore,
    IssuedToken,
    Principal,
    digest,
)

__all__ = ["DEFAULT_TEAM", "LINK_PREFIX", "RANK", "ROLES", "SCOPES", "SESSION_PREFIX", "SYSTEM",
           "AccessService", "IdentityStore", "IssuedToken", "Principal", "digest"]
