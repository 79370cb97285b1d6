"""State capability: what the control plane remembers (releases, deployments), in SQL."""

from ferry_platform.store._catalog import SqlCatalog
from ferry_platform.store._db import Database
from ferry_platform.store._identity import (
    AuditRecord,
    SessionRecord,
    SqlIdentityStore,
    TokenRecord,
    UserRecord,
)
from ferry_platform.store._jobs import JobRecord, SqlJobStore
from ferry_platform.store._monitoring import (
    AlertRecord,
    MonitorRecord,
    MonitorStore,
    SqlMonitorStore,
)
from ferry_platform.store._pipelines import (
    FeatureScheduleRecord,
    PipelineRecord,
    PipelineRunRecord,
    PipelineStore,
    SqlPipelineStore,
)
from ferry_platform.store._sql import DeploymentRecord, SqlStateStore, StateStore

__all__ = ["AlertRecord", "AuditRecord", "FeatureScheduleRecord", "Database", "DeploymentRecord", "JobRecord",
           "MonitorRecord", "MonitorStore", "PipelineRecord", "PipelineRunRecord", "PipelineStore",
           "SqlPipelineStore", "SessionRecord", "SqlCatalog", "SqlIdentityStore",
           "SqlJobStore", "SqlMonitorStore", "SqlStateStore", "StateStore", "TokenRecord",
           "UserRecord"]
