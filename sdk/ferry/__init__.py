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
from ferry._version import __version__
from ferry_contract import (
    Conflict,
    DeploymentNotFound,
    DeploymentPublic,
    EvaluationFailed,
    FerryError,
    Forbidden,
    GateFailed,
    IdentityNotFound,
    IncompatibleRelease,
    InvalidInput,
    InvalidRequest,
    JobNotFound,
    ModelNotFound,
    ModelPublic,
    ModelVersionPublic,
    NoPreviousRelease,
    NoRollout,
    NotFound,
    PlatformUnavailable,
    Protocol,
    ReleaseFailed,
    RolloutInProgress,
    Unauthenticated,
    VersionNotFound,
)

__all__ = [
    "Client",
    "Conflict",
    "Forbidden",
    "GateFailed",
    "IdentityNotFound",
    "JobNotFound",
    "Unauthenticated",
    "Deployment",
    "DeploymentNotFound",
    "DeploymentPublic",
    "EvaluationFailed",
    "FerryError",
    "IncompatibleRelease",
    "InvalidInput",
    "InvalidRequest",
    "ModelNotFound",
    "ModelPublic",
    "ModelVersionPublic",
    "NoPreviousRelease",
    "NoRollout",
    "NotFound",
    "PlatformUnavailable",
    "Prediction",
    "Protocol",
    "ReleaseFailed",
    "RolloutInProgress",
    "TrainingSet",
    "VersionNotFound",
    "__version__",
]
