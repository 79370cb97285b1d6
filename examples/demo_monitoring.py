"""The monitoring part of `make demo`: production traffic watched, and a bad canary caught.

On the `churn` deployment: traffic whose monthly charges drifted up, outcomes arriving
later by request id — in which the model has become wrong for one slice of customers
(contract type 2) — a report with its picture, the alerts it raised; then a canary that
fails on the 30% of requests with a contract type it never saw, rolled back by the
platform itself while the stable release fails no request.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import ferry
from ferry_contract import RELEASE_HEADER


def _drift_table(report: ferry.MonitoringReport) -> Table:
    release = report.release()
    table = Table("column", "method", "score", "threshold", "drifted", "null rate",
                  title=f"{release.release_id}: {release.rows} rows in the last {report.window}")
    health = {f.column: f for f in release.fragility}
    for d in [*release.drift, *release.prediction_drift]:
        f = health.get(d.column)
        table.add_row(d.column, d.method or "-", "-" if d.score is None else f"{d.score:.3f}",
                      "-" if d.threshold is None else f"{d.threshold:g}",
                      "[red]yes[/red]" if d.drifted else "no",
                      "-" if f is None else f"{f.null_rate:.1%}")
    return table


def _traffic(client: ferry.Client, make_churn: Any, console: Console) -> list[str]:
    """600 requests of customers whose monthly charges are 60% higher than in training;
    outcomes come back later, and for contract type 2 the model is now wrong."""
    rows = make_churn(600, seed=41)
    rows["monthly_charges"] = (rows["monthly_charges"] * 1.6).round(2)
    ids, said = [], []
    with client.deployment("churn") as dep:
        for row in rows.drop(columns=["churned"]).to_dict("records"):  # types kept
            answer = dep.predict([row])
            ids.append(answer.request_id)
            said.append(answer.predictions[0])
    outcomes = []
    for rid, predicted, (_, row) in zip(ids, said, rows.iterrows(), strict=True):
        label = 1 - predicted if row["contract_type"] == 2 else int(row["churned"])
        outcomes.append({"request_id": rid, "label": label,
                         "value": round(30.0 + 10 * (1 - label), 2)})
    done = client.log_outcomes("churn", outcomes + [{"request_id": "no-such-request",
                                                     "label": 1}])
    console.print(f"600 requests answered; outcomes logged later: {done.recorded} joined by "
                  f"request id, {done.unknown} unknown ({done.unknown_request_ids})")
    return ids


def _bad_canary(client: ferry.Client, console: Console, make_churn: Any) -> bool:
    train = make_churn(4000, seed=8)
    X, y = train.drop(columns=["churned"]), train["churned"]
    strict = make_pipeline(ColumnTransformer(
        [("contract", OneHotEncoder(handle_unknown="error"), ["contract_type"])],
        remainder="passthrough"), LogisticRegression(max_iter=2000)).fit(X, y)
    bad = client.register(strict, name="churn", training_data=train, target="churned").version
    client.set_monitor("churn", canary_analysis={
        "max_error_rate": 0.05, "min_requests": 40, "failures": 2, "interval_s": 2})
    dep = client.rollout("churn", version=bad, canary=30,
                         override_reason="demo: let canary analysis judge it on traffic")
    stable = dep.info.release.release_id
    candidate = dep.info.rollout.candidate.release_id  # type: ignore[union-attr]
    console.print(f"canary v{bad} at 30%: it refuses contract type 3, which 30% of today's "
                  "customers have")
    pool = make_churn(400, seed=43).drop(columns=["churned"])
    pool.loc[pool.sample(frac=0.3, random_state=1).index, "contract_type"] = 3
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
               for r in pool.to_dict("records")]
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def send() -> None:
        url = f"{dep.info.endpoints.rest}/predict"
        with httpx.Client(timeout=30, headers={"authorization": f"Bearer {dep.token}"}) as h:
            i = 0
            while not stop.is_set():
                row = records[i % len(records)]
                r = h.post(url, json={"inputs": [row]})
                answers.append((r.status_code, r.headers.get(RELEASE_HEADER)))
                i += 1

    workers = [threading.Thread(target=send, daemon=True) for _ in range(3)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 120
    while client.status("churn").rollout is not None and time.monotonic() < deadline:
        time.sleep(1)
    stop.set()
    for w in workers:
        w.join(30)
    rolled_back = client.status("churn").rollout is None
    stable_failed = sum(1 for s, rel in answers if rel == stable and s != 200)
    candidate_failed = sum(1 for s, rel in answers if rel == candidate and s != 200)
    console.print(f"{len(answers)} requests: the canary failed {candidate_failed}, the stable "
                  f"release failed {stable_failed}")
    if rolled_back:
        [event] = client.audit(action="canary_analysis.rollback", limit=1)
        numbers = event.details["canary_analysis"]
        console.print(f"[green]rolled back by itself[/green] after {numbers['failures']} failed "
                      f"checks: {numbers['reason']} (candidate error rate "
                      f"{numbers['candidate']['error_rate']:.1%} over "
                      f"{numbers['candidate']['requests']} requests)")
    else:
        console.print("[red]the canary was not rolled back within 120 s[/red]")
    client.set_monitor("churn", canary_analysis=None)
    return rolled_back and stable_failed == 0


def run(client: ferry.Client, console: Console, make_churn: Any, home: Path) -> bool:
    client.set_monitor("churn", slice_columns=["contract_type"])
    _traffic(client, make_churn, console)
    report = client.monitoring("churn", window="15m")
    console.print(_drift_table(report))
    release = report.release()
    gaps = [g for g in release.slice_gaps if g.significant]
    for g in gaps:
        console.print(f"slice gap: {g.metric} differs by {g.gap:.2f} between contract_type="
                      f"{g.best} and contract_type={g.worst}")
    [value] = [v for v in report.business_value if v.arm == "stable"] or [None]
    if value is not None:
        console.print(f"business value: {value.mean:.2f} per request (95% interval "
                      f"{value.ci_low:.2f} to {value.ci_high:.2f}, n={value.n})")
    picture = report.plot(home / "churn-monitoring.png")
    console.print(f"picture: {picture}")
    alerts = client.alerts("churn")
    for a in alerts:
        console.print(f"[yellow]alert[/yellow] {a.kind} {a.subject}: {a.message[:110]}")
    ok = "monthly_charges" in report.drifted() and any(a.kind == "slice_gap" for a in alerts)
    return _bad_canary(client, console, make_churn) and ok
