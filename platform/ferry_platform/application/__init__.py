"""The application layer: one service per resource, each owning who may call it (the
:data:`POLICY` table), what is recorded in the audit log and which job runs. Every client
(the HTTP API and so the SDK, the CLI and the portal) goes through it; the use cases and
capabilities below it know nothing of callers.
"""

from ferry_platform.application._app import Application
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._deployments import Deployments
from ferry_platform.application._evaluations import Evaluations, GatePlan
from ferry_platform.application._features import FeaturePort, Features
from ferry_platform.application._identity import Identity
from ferry_platform.application._models import Models
from ferry_platform.application._monitoring import (
    AlertHook,
    Monitoring,
    MonitoringPolicy,
    MonitoringView,
)
from ferry_platform.application._policy import (
    NOT_ROUTES,
    POLICY,
    TEAM_PRIVATE_JOBS,
    Policy,
    Rule,
    Scope,
    resource,
    route_resource,
)

__all__ = [
    "NOT_ROUTES",
    "POLICY",
    "TEAM_PRIVATE_JOBS",
    "AlertHook",
    "Monitoring",
    "MonitoringPolicy",
    "MonitoringView",
    "Application",
    "Audit",
    "AuditedJobs",
    "Deployments",
    "Evaluations",
    "FeaturePort",
    "Features",
    "GatePlan",
    "Identity",
    "Models",
    "Policy",
    "Rule",
    "Scope",
    "resource",
    "route_resource",
]
