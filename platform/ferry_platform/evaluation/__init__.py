"""Continuous evaluation: every candidate against its champion and a trivial baseline."""

from ferry_platform.evaluation._metrics import (
    HIGHER_IS_BETTER,
    EvaluationResult,
    GateConfig,
    Scorer,
    evaluate,
    gates,
    infer_task,
    robustness,
)
from ferry_platform.evaluation._service import EvaluationService, EvaluationStore

__all__ = [
    "HIGHER_IS_BETTER",
    "EvaluationResult",
    "EvaluationService",
    "EvaluationStore",
    "GateConfig",
    "Scorer",
    "evaluate",
    "gates",
    "infer_task",
    "robustness",
]
