"""The use-case layer: deployments and releases. The only package that composes capabilities."""

from ferry_platform.releases._batch import BatchPlan, BatchScoring
from ferry_platform.releases._roots import DataRoots
from ferry_platform.releases._service import Defaults, ReleaseService

__all__ = ["BatchPlan", "BatchScoring", "DataRoots", "Defaults", "ReleaseService"]
