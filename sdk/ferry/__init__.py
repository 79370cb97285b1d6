"""Ferry SDK: register a trained model, deploy it, predict - without Ray, BentoML or protos.

    import ferry
    client = ferry.Client()
    mv = client.register(model, name="churn", training_data=df, target="churned")
    dep = client.deploy("churn", version=mv.version)
    dep.predict(rows)
"""

from ferry._client import Client
from ferry._deployment import Deployment, Prediction
from ferry._features import TrainingSet
from ferry._monitoring import MonitoringReport
from ferry._version import __version__
from ferry_contract import (
    Conflict,
    ContractChange,
    DeploymentNotFound,
    DeploymentPublic,
    EvaluationFailed,
    FeatureNotFound,
    FerryError,
    Forbidden,
    GateFailed,
    IdentityNotFound,
    IncompatibleRelease,
    Interrupted,
    InvalidFeatureDefinition,
    InvalidInput,
    InvalidRequest,
    JobNotFound,
    MethodNotAllowed,
    ModelError,
    ModelNotFound,
    ModelPublic,
    ModelVersionPublic,
    NoPreviousRelease,
    NoRelease,
    NoRollout,
    NotFound,
    PayloadTooLarge,
    PlatformUnavailable,
    Protocol,
    ProtocolNotServed,
    ReleaseFailed,
    ReleaseUnavailable,
    RolloutInProgress,
    TokenScope,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
    VersionNotFound,
)

__all__ = [
    "Client",
    "Conflict",
    "ContractChange",
    "Deployment",
    "DeploymentNotFound",
    "DeploymentPublic",
    "EvaluationFailed",
    "FeatureNotFound",
    "FerryError",
    "Forbidden",
    "GateFailed",
    "IdentityNotFound",
    "IncompatibleRelease",
    "Interrupted",
    "InvalidFeatureDefinition",
    "InvalidInput",
    "InvalidRequest",
    "JobNotFound",
    "MethodNotAllowed",
    "ModelError",
    "ModelNotFound",
    "ModelPublic",
    "ModelVersionPublic",
    "MonitoringReport",
    "NoPreviousRelease",
    "NoRelease",
    "NoRollout",
    "NotFound",
    "PayloadTooLarge",
    "PlatformUnavailable",
    "Prediction",
    "Protocol",
    "ProtocolNotServed",
    "ReleaseFailed",
    "ReleaseUnavailable",
    "RolloutInProgress",
    "TokenScope",
    "TooManyRequests",
    "TrainingSet",
    "Unauthenticated",
    "UnsupportedMediaType",
    "VersionNotFound",
    "__version__",
]
