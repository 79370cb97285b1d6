"""Jobs: long operations (deploy, materialize, reconcile) run in the background and recorded."""

from ferry_platform.jobs._runner import (
    TRAFFIC_KINDS,
    JobContext,
    JobRunner,
    JobStore,
    LeaseLost,
    Work,
    error_body,
    new_owner,
)

__all__ = ["TRAFFIC_KINDS", "JobContext", "JobRunner", "JobStore", "LeaseLost", "Work",
           "error_body", "new_owner"]
