"""Monitoring capability: production traffic of each release, measured against the
reference it was trained on.

The prediction log is written by the serving processes (``serving._predlog``) and read
here, in the layout ``ferry_platform.core.predlog`` describes; neither capability imports
the other. Statistics (Evidently's drift tests, fragility, slices, business value) run in
the monitoring job (:class:`RayExecutor`: Ray tasks where the cluster has room), never on
the control plane's import path. The application layer composes this with the store
(thresholds, alerts), the deployments (canary rollbacks) and the audit log.
"""

from ferry_platform.monitoring._alerts import Condition, evaluate
from ferry_platform.monitoring._compute import ReleaseSpec
from ferry_platform.monitoring._interface import Monitor
from ferry_platform.monitoring._reference import sample_from_rows
from ferry_platform.monitoring._service import LocalExecutor, MonitoringService, RayExecutor
from ferry_platform.monitoring._stats import label_kind, label_problem

__all__ = ["Condition", "LocalExecutor", "Monitor", "MonitoringService", "RayExecutor",
           "ReleaseSpec", "evaluate", "label_kind", "label_problem", "sample_from_rows"]
