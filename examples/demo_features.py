"""The demo's second part: a model that reads versioned Feast features at prediction time.

Writes the sample feature repository (``examples/features``) with synthetic recent data into
the platform's feature repository, applies and materializes it, builds a point-in-time
training set, trains, registers and deploys. Then shows each deploy-time refusal — the
model's signature disagrees with its pinned features, a pinned version the registry does not
have, a pinned version not materialized online, weights that differ from the registry's
digest — and the accepted deploy once the cause is fixed.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from sklearn.linear_model import LogisticRegression

import ferry

HERE = Path(__file__).resolve().parent
FEATURES = ["tenure_months", "monthly_charges", "support_tickets"]
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def snapshots(n_customers: int = 300, weeks: int = 6, seed: int = 11) -> pd.DataFrame:
    """Hidden generator: one snapshot per customer and week, the newest an hour ago."""
    rng = np.random.default_rng(seed)
    rows = []
    for cid in range(1, n_customers + 1):
        tenure = int(rng.integers(1, 60))
        charges = float(rng.gamma(4.0, 20.0))
        for w in range(weeks):
            rows.append({
                "customer_id": cid,
                "event_timestamp": NOW - timedelta(hours=1) - timedelta(weeks=weeks - 1 - w),
                "tenure_months": tenure + w // 4,
                "monthly_charges": round(charges * (1 + 0.02 * w), 2),
                "support_tickets": int(rng.poisson(1.0)),
                "lifetime_value": round(charges * (tenure + w // 4), 2),
            })
    frame = pd.DataFrame(rows)
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[us, UTC]")
    return frame


def churn_labels(frame: pd.DataFrame, seed: int = 3) -> pd.Series:
    """The truth: churn follows a known logistic rule of the features at that time."""
    logit = (-0.5 - 0.06 * frame.tenure_months + 0.015 * frame.monthly_charges
             + 0.7 * frame.support_tickets)
    rng = np.random.default_rng(seed)
    return (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)


def entity_rows(n_customers: int = 300, seed: int = 5) -> pd.DataFrame:
    """Training examples: customers at past moments (each sees only what was known then)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, n_customers + 1, 1500)
    hours = rng.integers(1, 24 * 7 * 5, 1500)
    return pd.DataFrame({"customer_id": ids,
                         "event_timestamp": [NOW - timedelta(hours=int(h)) for h in hours]})


def run(client: ferry.Client, console: Console, home: Path) -> bool:
    repo = home / "features"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "features" / "customers.py", repo / "customers.py")
    data = snapshots()
    data.to_parquet(repo / "data" / "customer_stats.parquet", index=False)

    plan = client.apply_features()
    console.print("feature repository applied: " + "; ".join(
        f"{c.view} {c.change} -> v{c.version}" for c in plan.changes))
    _materialize(client, console)

    ts = client.training_set([f"customer_stats:{f}" for f in FEATURES], entity_rows())
    train = ts.frame.dropna().assign(churned=lambda d: churn_labels(d))
    console.print(f"point-in-time training set: {len(ts.frame)} rows, pinned "
                  f"{', '.join(ts.feature_refs)}")
    model = LogisticRegression(max_iter=2000).fit(train[FEATURES], train["churned"])
    mv = client.register(model, name="churn-features", target="churned",
                         training_data=ferry.TrainingSet(train, ts.feature_refs,
                                                         ts.entity_columns))
    console.print(f"registered [bold]churn-features v{mv.version}[/bold] with lineage "
                  f"{mv.feature_refs}")

    with console.status("deploying churn-features (reads its features online)"):
        dep = client.deploy("churn-features", version=mv.version, replicas=1)
    console.print(f"[green]accepted[/green]: release {dep.release_id}")
    ok = _predict_by_key(client, console, dep, model, ts.feature_refs, FEATURES)

    console.rule("deploys Ferry refuses, and why")
    # 1. the model's signature disagrees with its pinned features (trained on 2 of 3)
    two = FEATURES[:2]
    short = LogisticRegression(max_iter=2000).fit(train[two], train["churned"])
    mv_short = client.register(short, name="churn-features", target="churned",
                               training_data=ferry.TrainingSet(
                                   train.drop(columns=["support_tickets"]), ts.feature_refs,
                                   ts.entity_columns))
    ok &= _refused(client, console, "signature vs pinned features", mv_short.version)

    # 2. a pinned version the feature registry does not have (trained against another one)
    # (any version number it has now: a demo run on the same FERRY_HOME finds v2, v3...)
    elsewhere = [re.sub(r"@v\d+:", "@v999:", r) for r in ts.feature_refs]
    mv_other = client.register(model, name="churn-features", target="churned",
                               training_data=ferry.TrainingSet(train, elsewhere,
                                                               ts.entity_columns))
    ok &= _refused(client, console, "pinned version missing", mv_other.version)

    # 3. a new view version, trained on offline, not yet materialized online
    (repo / "customers.py").write_text((repo / "customers.py").read_text().replace(
        'Field(name="support_tickets", dtype=Int64),',
        'Field(name="support_tickets", dtype=Int64),\n        '
        'Field(name="lifetime_value", dtype=Float64),'))
    plan = client.plan_features()
    console.print("feature plan after adding lifetime_value: " + "; ".join(
        f"{c.view} {c.change} -> v{c.version}" for c in plan.changes))
    client.apply_features()
    cols = [*FEATURES, "lifetime_value"]
    ts1 = client.training_set([f"customer_stats:{f}" for f in cols], entity_rows())
    train1 = ts1.frame.dropna().assign(churned=lambda d: churn_labels(d))
    model1 = LogisticRegression(max_iter=5000).fit(train1[cols], train1["churned"])
    mv1 = client.register(model1, name="churn-features", target="churned",
                          training_data=ferry.TrainingSet(train1, ts1.feature_refs,
                                                          ts1.entity_columns))
    ok &= _refused(client, console, "pinned version not materialized", mv1.version)

    # 4. weights in the artifact store that are not the ones the registry recorded
    mv_tampered = client.register(model, name="churn-features", target="churned",
                                  training_data=ferry.TrainingSet(train, ts.feature_refs,
                                                                  ts.entity_columns))
    weights = sorted(Path(mv_tampered.artifact_uri.removeprefix("file://")).rglob("model.*"))
    weights[0].write_bytes(weights[0].read_bytes() + b"overwritten")
    ok &= _refused(client, console, "model digest differs from the registry",
                   mv_tampered.version)

    console.rule("the fix: materialize v1, then the v1 model deploys")
    _materialize(client, console)
    with console.status("upgrading churn-features to the model trained on v1"):
        dep1 = client.deploy("churn-features", version=mv1.version, replicas=1)
    console.print(f"[green]accepted[/green]: release {dep1.release_id}")
    ok &= _predict_by_key(client, console, dep1, model1, ts1.feature_refs, cols)
    client.undeploy("churn-features")
    console.print("undeployed churn-features")
    return ok


def _materialize(client: ferry.Client, console: Console) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("materializing", total=100)
        done = client.materialize(
            NOW - timedelta(weeks=8), NOW,
            on_progress=lambda step, pct: bar.update(task, completed=pct, description=step))
        bar.update(task, completed=100, description=f"materialized {', '.join(done)}")


def _refused(client: ferry.Client, console: Console, kind: str, version: int) -> bool:
    try:
        client.deploy("churn-features", version=version, replicas=1)
    except ferry.FerryError as e:
        console.print(f"[yellow]refused[/yellow] ({kind}) v{version}: {e.code}: {e.message}")
        return True
    console.print(f"[red]NOT refused[/red] ({kind}) v{version}")
    return False


def _predict_by_key(client: ferry.Client, console: Console, dep: ferry.Deployment,
                    model: LogisticRegression, refs: list[str], cols: list[str]) -> bool:
    """Predict by customer id over both protocols; the answers must equal the model's own
    on the features the training set gives for the same customers now."""
    ids = [4, 27, 81, 150, 222]
    now = pd.DataFrame({"customer_id": ids, "event_timestamp": [NOW] * len(ids)})
    current = client.training_set(refs, now).frame
    expected: list[int] = model.predict(current[cols]).tolist()
    ok = True
    for protocol in ("rest", "grpc"):
        got = dep.predict([{"customer_id": i} for i in ids], protocol=protocol)
        same = got.predictions == expected and got.feature_refs == refs
        ok &= same
        console.print(f"  {protocol:4s} customer_id={ids} -> {got.predictions} using "
                      f"{got.feature_refs[0].split(':')[0]} "
                      f"{'(= model on the training-set features)' if same else '(MISMATCH)'}")
    try:
        dep.predict([{"customer_id": 99999}])
    except ferry.NotFound as e:
        console.print(f"  unknown customer refused as expected: {e.message[:90]}...")
    return ok

