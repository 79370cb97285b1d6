"""Jobs: long operations (deploy, materialize, reconcile) run in the background and recorded."""

from ferry_platform.jobs._runner import JobContext, JobRunner, JobStore, Work, error_body

__all__ = ["JobContext", "JobRunner", "JobStore", "Work", "error_body"]
