"""The demo's nightly retraining of ``churn``: tonight's labelled customers → train with the
champion's recipe → register → evaluate against the champion and the baseline on the pinned
evaluation set → a 10% canary only if Ferry's gate passed *and* the candidate gains at least
``min_gain`` over the champion. Never a promotion: a person promotes (a pipeline's token may
not).

Scheduled at 03:00 UTC and started by any drift alert on ``churn``; ``make demo`` registers
it and triggers one run by hand (``demo_pipelines.py``). With data from an unchanged source
the candidate is no better than the champion and the run stops at the gate — a run that
stops there is recorded all the same, in Ferry and in MLflow.

By hand, on a platform where ``churn`` has a champion and a pinned evaluation set (after
``make demo``'s rollout part, or your own)::

    cd examples
    ferry pipelines register nightly_retrain:nightly_retrain --path .
    ferry pipelines run churn-nightly -p rows=2000
    ferry pipelines show churn-nightly

Outside a run ``nightly_retrain()`` is a plain function call (its steps too), with
``FERRY_URL``/``FERRY_TOKEN`` naming the platform. The training data comes from the demo's
generator (``churn_data.py``) where a team would read tonight's labelled outcomes.
"""

from __future__ import annotations

from typing import Any

import ferry
from ferry import pipeline, step

MODEL = "churn"


@step
def tonight_data(rows: int, seed: int) -> Any:
    """Tonight's labelled customers, from the same source as the champion's (unchanged)."""
    from churn_data import make_churn

    return make_churn(rows, seed)


@step
def train(frame: Any) -> Any:
    """The champion's recipe, refit on tonight's rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    return model.fit(frame.drop(columns=["churned"]), frame["churned"])


@step
def register(model: Any, frame: Any, name: str) -> int:
    return ferry.Client().register(model, name=name, training_data=frame, target="churned",
                                   params={"max_iter": 60, "algorithm": "hist-gbdt",
                                           "trained_by": "churn-nightly"}).version


@step
def evaluate(version: int, name: str) -> dict[str, Any]:
    """Ferry's evaluation against the champion and the baseline: the gate's verdict, the
    primary metric of both, and the checks that failed. Registering a version of a model
    whose gate pins an evaluation set already started that evaluation: the step follows it
    rather than running the same one twice (it asks for one only if none was started)."""
    from ferry_contract import EvaluationPublic

    client = ferry.Client()
    started = [j for j in client.jobs(kind="evaluate", target=name, limit=50)
               if j.request.get("version") == version and j.request.get("on") == "register"]
    ev = (EvaluationPublic.model_validate(client.wait(started[0]).result) if started
          else client.evaluate(name, version))
    metric = ev.primary_metric
    champion = ev.metrics.get("champion", {}).get(metric)
    candidate = ev.metrics["candidate"][metric]
    return {"passed": ev.passed, "metric": metric, "candidate": candidate,
            "champion": champion, "gain": candidate - (champion or 0.0),
            "failed": [g.name for g in ev.gates if not g.passed]}


@step
def canary(version: int, deployment: str, weight: int) -> str:
    """A canary through the gate (no override): the furthest a pipeline may go."""
    ferry.Client().rollout(deployment, version=version, canary=weight)
    return deployment


def decide(passed: bool, gain: float, min_gain: float) -> str:
    """``canary`` only when the gate passed and the gain is worth a rollout; otherwise
    where the candidate stopped: ``failed gate`` or ``no gain``."""
    if not passed:
        return "failed gate"
    return "canary" if gain >= min_gain else "no gain"


# overlap="skip": one monitoring report opens an alert per drifted column and release (ten
# in the demo), each starting this pipeline; one retraining covers them all.
@pipeline(name="churn-nightly", schedule="0 3 * * *", on_alert=f"{MODEL}:drift",
          overlap="skip")
def nightly_retrain(rows: int = 2000, seed: int = 21, min_gain: float = 0.005,
                    model: str = MODEL, deployment: str = MODEL,
                    weight: int = 10) -> dict[str, Any]:
    """Nightly retraining of churn: a canary only if the candidate beats the champion."""
    frame = tonight_data(rows, seed)
    version = register(train(frame), frame, model)
    ev = evaluate(version, model)
    outcome = decide(bool(ev["passed"]), float(ev["gain"]), min_gain)
    if outcome == "canary":
        canary(version, deployment, weight)
    return {"version": version, "outcome": outcome, "gain": ev["gain"],
            ev["metric"]: ev["candidate"], "failed_checks": ", ".join(ev["failed"]) or "-"}
