"""Continuous evaluation: every candidate against its champion and a trivial baseline.

The scoring core (``_metrics``, ``_robustness``, ``_gate``) is pure; the service runs the
models themselves in a sandbox (``_predict`` is what runs there) and scores their answers
on the control plane, against labels the models never see.
"""

from ferry_platform.evaluation._gate import gates
from ferry_platform.evaluation._metrics import (
    DEFAULT_GUARDRAILS,
    HIGHER_IS_BETTER,
    Answers,
    EvaluationResult,
    GateConfig,
    Guardrail,
    Scorer,
    evaluate,
    evaluate_answers,
    infer_task,
)
from ferry_platform.evaluation._robustness import (
    RobustnessPlan,
    robustness,
    robustness_plan,
    robustness_report,
)
from ferry_platform.evaluation._service import EvaluationLimits, EvaluationService, EvaluationStore

__all__ = [
    "DEFAULT_GUARDRAILS",
    "HIGHER_IS_BETTER",
    "Answers",
    "EvaluationLimits",
    "EvaluationResult",
    "EvaluationService",
    "EvaluationStore",
    "GateConfig",
    "Guardrail",
    "RobustnessPlan",
    "Scorer",
    "evaluate",
    "evaluate_answers",
    "gates",
    "infer_task",
    "robustness",
    "robustness_plan",
    "robustness_report",
]
