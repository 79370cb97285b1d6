"""The evaluation and rollout part of `make demo`: evidence first, then safe traffic.

On the `churn` deployment the main demo made: an evaluation set, v1 made champion through
its gate, a v2 of another algorithm compared side by side with v1 and the baseline, a weak v3 refused
with its numbers, v2 rolled out as a 20% canary (the share measured from the release id
on each answer), raised to 50%, promoted (champion moves), then rolled back at once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import ferry


def _compare_table(e: Any) -> Table:
    table = Table("metric", "baseline", f"v{e.against}", f"v{e.version}", "Δ",
                  title=f"churn v{e.version} vs v{e.against} vs baseline "
                        f"({e.rows} rows, {e.folds} folds)")
    for name, value in e.metrics["candidate"].items():
        champ = e.metrics["champion"].get(name)
        base = e.metrics["baseline"].get(name)
        fmt = (lambda v: "-" if v is None else f"{v:.3f}")  # noqa: E731
        table.add_row(name, fmt(base), fmt(champ), fmt(value),
                      fmt(value - champ if value is not None and champ is not None else None))
    return table


def _share(client: ferry.Client, name: str, row: dict[str, Any], n: int) -> Counter[str]:
    """Which release answered each of ``n`` predictions (the SDK sends the client's token)."""
    seen: Counter[str] = Counter()
    with client.deployment(name) as dep:
        for _ in range(n):
            seen[dep.predict([row]).release_id] += 1
    return seen


def run(client: ferry.Client, console: Console, make_churn: Any, v1: int) -> bool:
    train = make_churn(4000, seed=7)
    X, y = train.drop(columns=["churned"]), train["churned"]
    client.create_eval_set("churn", make_churn(3000, seed=12), label="churned",
                           slice_column="contract_type", pin=True)
    console.print("evaluation set v1: 3,000 labelled customers, sliced by contract_type, "
                  "pinned in the gate")
    first = client.evaluate("churn", v1)
    console.print(f"v1 vs baseline: roc_auc {first.metrics['candidate']['roc_auc']:.3f} vs "
                  f"{first.metrics['baseline']['roc_auc']:.3f} -> "
                  f"{'passed' if first.passed else 'FAILED'}")
    client.set_champion("churn", v1)
    console.print("v1 is champion (MLflow alias, set only through Ferry's gate)")

    better = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
    v2 = client.register(better.fit(X, y), name="churn", training_data=train,
                         target="churned").version
    weak = make_pipeline(ColumnTransformer([("k", "passthrough", ["monthly_charges"])]),
                         LogisticRegression()).fit(X, y)
    v3 = client.register(weak, name="churn", training_data=train, target="churned").version
    compared = client.compare("churn", v1, v2)
    console.print(_compare_table(compared))
    console.print("gate: " + "; ".join(f"{g.name} {'ok' if g.passed else 'FAILED'}"
                                       for g in compared.gates))
    ok = True
    try:
        client.rollout("churn", version=v3, canary=10)
        console.print("[red]v3 was rolled out although it is worse[/red]")
        ok = False
    except ferry.GateFailed as e:
        console.print(f"v3 refused: {e.message[:160]}...")
    if not compared.passed:
        console.print("[yellow]v2 did not pass its gate on this data; skipping its rollout[/yellow]")
        return ok

    dep = client.rollout("churn", version=v2, canary=20)
    assert dep.info.rollout is not None and dep.info.endpoints.rest
    candidate = dep.info.rollout.candidate.release_id
    row = X.head(1).to_dict("records")[0]
    seen = _share(client, dep.name, row, 400)
    console.print(f"canary 20%: {seen[candidate]} of 400 requests answered by {candidate}")
    client.set_weight("churn", 50)
    seen = _share(client, dep.name, row, 400)
    console.print(f"weight 50% (router reconfigured, no restarts): {seen[candidate]} of 400")
    promoted = client.promote("churn")
    console.print(f"promoted: serving {promoted.release_id}; champion is now "
                  f"v{client.model('churn').aliases['champion']}")
    back = client.rollback("churn")
    console.print(f"rolled back at once to {back.release_id}; champion "
                  f"v{client.model('churn').aliases['champion']}")
    return ok and promoted.release_id == candidate and back.release_id == dep.release_id
