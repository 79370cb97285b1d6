"""The gate: every check a candidate must pass to become champion, each with its numbers."""

from __future__ import annotations

import math
from typing import Any

from ferry_platform.evaluation._metrics import (
    HIGHER_IS_BETTER,
    EvaluationResult,
    GateConfig,
    Guardrail,
    better,
)


def gates(result: EvaluationResult, config: GateConfig,
          champion: str | None = "champion") -> list[dict[str, Any]]:
    """Every check a candidate must pass to become champion, each with its numbers."""
    metric = result.primary_metric
    cand = result.metrics.get("candidate", {}).get(metric)
    base = result.metrics.get("baseline", {}).get(metric)
    arrow = _arrow(metric)
    out: list[dict[str, Any]] = []
    if cand is None:
        err = result.robustness.get("errors", {}).get("candidate")
        out.append({"name": "scored", "passed": False, "metric": metric, "value": None,
                    "threshold": None,
                    "detail": f"the candidate has no {metric}: {err or 'undefined on this data'}"})
        return out
    margin = better(metric, cand, base) if base is not None else math.inf
    # Better than the baseline beyond the folds' noise (two standard errors), and by
    # more than the configured margin: a lucky guesser does not pass.
    spread = result.std.get("candidate", {}).get(metric) or 0.0
    noise = 2 * spread / math.sqrt(result.folds) if result.folds > 1 else 0.0
    needed = max(config.baseline_margin, noise)
    out.append({
        "name": "beats_baseline", "metric": metric, "value": cand, "reference": base,
        "threshold": needed,
        "passed": margin > needed,
        "detail": f"{metric} {cand:.4f} vs baseline {base if base is None else round(base, 4)} "
                  f"({arrow} is better); must be better by more than {needed:.4f} "
                  f"(margin {config.baseline_margin}, fold noise {noise:.4f})",
    })
    champ = result.metrics.get(champion or "", {}).get(metric) if champion else None
    errors = result.robustness.get("errors", {})
    scored_champion = bool(champion) and (champion in result.metrics or champion in errors)
    if scored_champion and champ is None:
        err = result.robustness.get("errors", {}).get(champion)
        out.append({"name": "vs_champion", "metric": metric, "value": cand, "reference": None,
                    "threshold": None, "passed": False,
                    "detail": f"the champion could not be scored on {metric} "
                              f"({err or 'undefined on this data'}): no comparison, no "
                              "promotion; fix the champion or override with a reason"})
    elif scored_champion and champ is not None:
        delta = better(metric, cand, champ)
        out.append({
            "name": "vs_champion", "metric": metric, "value": cand, "reference": champ,
            "threshold": -config.tolerance, "passed": delta >= -config.tolerance,
            "detail": f"{metric} {cand:.4f} vs champion {champ:.4f}: "
                      f"{'+' if delta >= 0 else ''}{delta:.4f} ({arrow} is better); "
                      f"may be worse by at most {config.tolerance}",
        })
        for row in result.slices:
            c, ch = row["metrics"].get("candidate"), row["metrics"].get(champion)
            if not row["evaluated"] or c is None or ch is None:
                continue
            d = better(metric, c, ch)
            out.append({
                "name": f"slice:{row['value']}", "metric": metric, "value": c, "reference": ch,
                "threshold": -config.slice_tolerance, "passed": d >= -config.slice_tolerance,
                "detail": f"{config.slice_column or 'slice'}={row['value']} ({row['rows']} rows): "
                          f"{metric} {c:.4f} vs champion {ch:.4f} ({d:+.4f}); may be worse by "
                          f"at most {config.slice_tolerance}",
            })
    else:
        out.append({"name": "vs_champion", "metric": metric, "value": cand, "reference": None,
                    "threshold": None, "passed": True,
                    "detail": "no champion yet: the first version to pass becomes champion"})
    champion_values = result.metrics.get(champion or "", {}) if scored_champion and \
        champ is not None else None
    for guard in config.guardrails_for(result.task, metric):
        out.extend(_guardrail(result, guard, champion_values))
    return out


def _arrow(metric: str) -> str:
    return "higher" if HIGHER_IS_BETTER.get(metric, True) else "lower"


def _guardrail(result: EvaluationResult, guard: Guardrail,
               champion: dict[str, float | None] | None) -> list[dict[str, Any]]:
    """A guardrail's checks: against the champion (when there is one that was scored),
    and against the baseline."""
    metric, arrow = guard.metric, _arrow(guard.metric)
    name = f"guardrail:{metric}"
    cand = result.metrics.get("candidate", {}).get(metric)
    base = result.metrics.get("baseline", {}).get(metric)
    ref = champion.get(metric) if champion is not None else None
    if cand is None:
        if ref is None:
            also = " and for the champion" if champion is not None else ""
            return [{"name": name, "metric": metric, "value": None, "reference": None,
                     "threshold": None, "passed": True,
                     "detail": f"guardrail {metric} not measured: undefined for the candidate "
                               f"(no class probabilities?){also}"}]
        return [{"name": name + ":vs_champion", "metric": metric, "value": None,
                 "reference": ref, "threshold": None, "passed": False,
                 "detail": f"guardrail {metric}: the candidate has none (no class "
                           f"probabilities?), the champion has {ref:.4f}"}]
    out = []
    if ref is not None:
        allowed = guard.tolerance * abs(ref) if guard.relative else guard.tolerance
        delta = better(metric, cand, ref)
        how = f"{guard.tolerance:.0%} of the champion's" if guard.relative else "absolute"
        out.append({
            "name": name + ":vs_champion", "metric": metric, "value": cand, "reference": ref,
            "threshold": -allowed, "passed": delta >= -allowed,
            "detail": f"guardrail {metric} {cand:.4f} vs champion {ref:.4f}: {delta:+.4f} "
                      f"({arrow} is better); may be worse by at most {allowed:.4f} ({how})",
        })
    if guard.vs_baseline and base is not None:
        delta = better(metric, cand, base)
        out.append({
            "name": name + ":vs_baseline", "metric": metric, "value": cand, "reference": base,
            "threshold": 0.0, "passed": delta >= 0,
            "detail": f"guardrail {metric} {cand:.4f} vs baseline {base:.4f}: {delta:+.4f} "
                      f"({arrow} is better); may not be worse than the trivial baseline",
        })
    return out
