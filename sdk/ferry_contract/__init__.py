"""Ferry's wire contract: the schemas and error codes shared by every side of the platform.

Importing this package is cheap: pydantic only, no ML framework.
"""

from ferry_contract._errors import (
    Conflict,
    DeploymentNotFound,
    FeatureNotFound,
    FerryError,
    IncompatibleRelease,
    InvalidFeatureDefinition,
    InvalidInput,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PlatformUnavailable,
    ReleaseFailed,
    VersionNotFound,
    error_class_for,
    error_from_body,
)
from ferry_contract._schemas import (
    NAME_PATTERN,
    ColumnSpec,
    DeploymentCreate,
    DeploymentPublic,
    Endpoints,
    ErrorBody,
    ErrorDetail,
    Health,
    ModelCreate,
    ModelPublic,
    ModelVersionCreate,
    ModelVersionPublic,
    PlatformInfo,
    Protocol,
    ReleasePublic,
)

RELEASE_HEADER = "x-ferry-release"
"""HTTP header (and gRPC trailing-metadata key) naming the release that answered."""

__all__ = [
    "NAME_PATTERN",
    "RELEASE_HEADER",
    "ColumnSpec",
    "Conflict",
    "DeploymentCreate",
    "DeploymentNotFound",
    "DeploymentPublic",
    "Endpoints",
    "ErrorBody",
    "ErrorDetail",
    "FeatureNotFound",
    "FerryError",
    "Health",
    "IncompatibleRelease",
    "InvalidFeatureDefinition",
    "InvalidInput",
    "InvalidRequest",
    "ModelCreate",
    "ModelNotFound",
    "ModelPublic",
    "ModelVersionCreate",
    "ModelVersionPublic",
    "NotFound",
    "PlatformInfo",
    "PlatformUnavailable",
    "Protocol",
    "ReleaseFailed",
    "ReleasePublic",
    "VersionNotFound",
    "error_class_for",
    "error_from_body",
]
