"""Pipelines capability: a team's ``@pipeline`` run by an orchestrator (Prefect 3, its
tasks on Ray), isolated like model code; cron schedules.

:class:`PrefectOrchestrator` runs one pipeline run in the platform's sandbox and answers
its outcome in JSON; :func:`due` and :func:`next_after` read cron schedules. Who may run
what, the runs' records and their MLflow runs are the application layer's.
"""

from ferry_platform.pipelines._executor import PrefectOrchestrator
from ferry_platform.pipelines._interface import Isolation, Orchestrator, RunRequest
from ferry_platform.pipelines._prefect import LocalPrefectServer
from ferry_platform.pipelines._schedule import due, next_after

__all__ = [
    "Isolation",
    "LocalPrefectServer",
    "Orchestrator",
    "PrefectOrchestrator",
    "RunRequest",
    "due",
    "next_after",
]
