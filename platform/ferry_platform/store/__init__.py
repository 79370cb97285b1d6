"""State capability: what the control plane remembers (releases, deployments), in SQL."""

from ferry_platform.store._sql import DeploymentRecord, SqlStateStore, StateStore

__all__ = ["DeploymentRecord", "SqlStateStore", "StateStore"]
