"""Model registry capability: models, versions and their lineage, backed by MLflow."""

from ferry_platform.registry._archive import unpack
from ferry_platform.registry._evaluations import MlflowEvaluationStore
from ferry_platform.registry._interface import ModelRegistry
from ferry_platform.registry._mlflow import TAG_PREFIX, MlflowRegistry
from ferry_platform.registry._runs import MlflowRunLog

__all__ = ["TAG_PREFIX", "MlflowEvaluationStore", "MlflowRegistry", "MlflowRunLog", "ModelRegistry", "unpack"]
