"""Request / response schemas of the control-plane HTTP API, shared by server and SDK.

Naming follows one rule: ``<Resource>Create`` / ``<Resource>Update`` for request bodies,
``<Resource>Public`` for what the API returns.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
"""Model and deployment names: lower-case, digits and dashes; they become URL path parts."""


class Protocol(str, Enum):
    """How clients reach a deployment. ``auto`` serves REST and gRPC and lets the SDK pick."""

    auto = "auto"
    rest = "rest"
    grpc = "grpc"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnSpec(_Schema):
    name: str
    type: str = Field(description="MLflow type: double, float, long, integer, string, boolean, ...")
    required: bool = True


class PlatformInfo(_Schema):
    """What a client needs to know about the platform it talks to."""

    ferry_version: str
    mlflow_tracking_uri: str
    serve_http_url: str
    serve_grpc_target: str
    default_replicas: int
    default_protocol: Protocol


class ModelCreate(_Schema):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""


class ModelPublic(_Schema):
    name: str
    description: str = ""
    experiment_id: str
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)


class ModelVersionCreate(_Schema):
    """Register a model the SDK logged to MLflow as a new version of ``name``."""

    model_uri: str = Field(description="models:/<model_id> of the logged model")
    run_id: str
    framework: str
    training_data_digest: str
    code_version: str
    feature_refs: list[str] = Field(
        default_factory=list, description="pinned feature refs (view@vN:feature) it was trained on")


class ModelVersionPublic(_Schema):
    name: str
    version: int
    run_id: str
    model_uri: str
    artifact_uri: str = Field(default="", description="where the version's files are stored")
    framework: str
    model_digest: str
    training_data_digest: str
    code_version: str
    signature: list[ColumnSpec]
    feature_refs: list[str] = Field(default_factory=list)
    created_at: datetime | None = None


class DeploymentCreate(_Schema):
    """Deploy a model version under a deployment name (defaults to the model name)."""

    model: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    protocol: Protocol = Protocol.auto
    replicas: int | None = Field(default=None, ge=1, le=64)


class Endpoints(_Schema):
    rest: str | None = None
    grpc: str | None = None
    grpc_application: str | None = Field(
        default=None, description="value of the `application` gRPC metadata key"
    )


class ReleasePublic(_Schema):
    """One immutable unit: an exact model version, its code and its pinned dependencies."""

    release_id: str
    model: str
    version: int
    bento_tag: str
    model_digest: str
    training_data_digest: str
    code_version: str
    ferry_version: str
    signature: list[ColumnSpec]
    created_at: datetime | None = None


class DeploymentPublic(_Schema):
    name: str
    release: ReleasePublic
    protocol: Protocol
    replicas: int
    status: str
    endpoints: Endpoints
    previous_release_id: str | None = None
    updated_at: datetime | None = None


class ErrorDetail(_Schema):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(_Schema):
    error: ErrorDetail


class Health(_Schema):
    status: str
    ray: str
    serve_applications: list[str] = Field(default_factory=list)


class FeatureVersionPublic(_Schema):
    version: int
    created_at: datetime | None = None
    features: dict[str, str] = Field(description="feature name -> Feast dtype")


class FeatureViewPublic(_Schema):
    name: str
    active_version: int
    entities: list[str]
    versions: list[FeatureVersionPublic]


class FeatureChangePublic(_Schema):
    view: str
    change: str = Field(description="new, new_version, metadata, pin or unchanged")
    version: int = Field(description="the version active after the change")
    properties: list[str] = Field(default_factory=list)
    description: str


class FeaturePlanPublic(_Schema):
    applied: bool
    changes: list[FeatureChangePublic]


class FeatureFreshnessPublic(_Schema):
    view: str
    version: int
    active: bool
    ttl_seconds: float | None = None
    newest: datetime | None = Field(default=None, description="newest online event time")
    fresh: bool = Field(description="materialized and within the view's TTL")


class MaterializeCreate(_Schema):
    """Load the active version of ``views`` (default: all) for event times in [start, end]."""

    start: datetime
    end: datetime
    views: list[str] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MaterializeCreate:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start "
                             f"({self.start.isoformat()})")
        return self


class TrainingSetCreate(_Schema):
    """Point-in-time training set: entity rows (join keys + ``event_timestamp``) and features."""

    features: list[str] = Field(min_length=1, description="'view:feature' or 'view@vN:feature'")
    entities: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)


class TrainingSetPublic(_Schema):
    feature_refs: list[str] = Field(description="the exact versions used, in column order")
    columns: list[str]
    rows: list[list[Any]]
