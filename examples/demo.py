"""Ferry end to end on the embedded local platform: `make demo` runs this.

Starts the local platform, trains a churn classifier on synthetic data, registers it in
MLflow, deploys it through the SDK with 2 replicas over REST and gRPC, predicts over both
protocols (checking the answers equal the model's own). Then evaluation and rollout
(``demo_rollout.py``): champion through the gate, a side-by-side comparison, a worse
version refused, a canary measured from the answers, promote, rollback. Then monitoring
(``demo_monitoring.py``): traffic with an injected drift and a slice the model got wrong,
outcomes joined by request id, the report, its picture and the alerts raised, and a bad
canary rolled back by itself with no failed request on the stable release. Then retraining
(``demo_pipelines.py``): the nightly pipeline of ``nightly_retrain.py`` registered (cron and
drift alerts) and run once by hand, its steps, its MLflow run, and where it stopped: at the
gate, no better than the champion (a pipeline could at most start a canary). Then the features part
(``demo_features.py``): a model trained on a point-in-time Feast training set, served with
the same features read online by customer id, and each deploy Ferry refuses, with why.
Finally shuts everything down.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import demo_features
import demo_monitoring
import demo_pipelines
import demo_rollout
from churn_data import make_churn
from rich.console import Console
from sklearn.ensemble import HistGradientBoostingClassifier

import ferry
from ferry._local import LocalPlatform

console = Console()


def main() -> int:
    home = Path(os.environ.get("FERRY_HOME", Path.cwd() / ".ferry" / "demo")).resolve()
    url = os.environ.get("FERRY_URL", "http://127.0.0.1:8700")
    local = LocalPlatform(home, url)
    t0 = time.monotonic()
    with console.status("starting the local platform (Ray, MLflow on SQLite, control plane)") as st:
        local.up(on_wait=lambda s: st.update(f"starting the local platform... {s:.0f}s"))
    console.print(f"[green]platform up[/green] at {url} in {time.monotonic() - t0:.0f}s "
                  f"(state in {home})")
    try:
        client = ferry.Client(url, token=local.admin_token())
        console.print(f"portal: {url}/portal  (a one-time sign-in link as the admin: "
                      f"{client.access.portal_link().url})", soft_wrap=True)
        train = make_churn(4000, seed=7)
        features = train.drop(columns=["churned"])
        model = HistGradientBoostingClassifier(max_iter=60, random_state=0)
        model.fit(features, train["churned"])
        with console.status("registering the model in MLflow"):
            mv = client.register(model, name="churn", training_data=train, target="churned",
                                 params={"max_iter": 60, "algorithm": "hist-gbdt"})
        console.print(f"registered [bold]churn v{mv.version}[/bold] ({mv.framework}, "
                      f"{mv.model_digest[:19]}..., data {mv.training_data_digest}, "
                      f"code {mv.code_version[:20]})")

        t1 = time.monotonic()
        with console.status("deploying churn with 2 replicas over REST and gRPC"):
            dep = client.deploy("churn", version=mv.version, replicas=2)
        console.print(f"deployed in {time.monotonic() - t1:.0f}s: release "
                      f"[bold]{dep.release_id}[/bold]")
        console.print(f"  REST endpoint: {dep.endpoints['rest']}/predict")
        console.print(f"  gRPC endpoint: {dep.endpoints['grpc']} "
                      f"(metadata application={dep.name})")

        rows = make_churn(5, seed=99).drop(columns=["churned"])
        expected = model.predict(rows).tolist()
        ok = True
        for protocol in ("rest", "grpc"):
            result = dep.predict(rows, protocol=protocol)
            same = result.predictions == expected
            ok &= same and result.release_id == dep.release_id
            console.print(f"  {protocol:4s} -> {result.predictions} from release "
                          f"{result.release_id} {'(= model.predict)' if same else '(MISMATCH)'}")
        try:
            dep.predict([{"tenure_months": "three"}])
        except ferry.InvalidInput as e:
            console.print(f"  bad input refused as expected: {e.message[:110]}...")
        status = client.status("churn")
        console.print(f"status: {status.status}, {status.replicas} replicas, "
                      f"release {status.release.release_id}")

        console.rule("continuous evaluation and safe rollout")
        ok &= demo_rollout.run(client, console, make_churn, mv.version)

        console.rule("production monitoring")
        ok &= demo_monitoring.run(client, console, make_churn, home)

        console.rule("nightly retraining (pipelines)")
        ok &= demo_pipelines.run(client, console)
        client.undeploy("churn")
        console.print("undeployed churn")

        console.rule("versioned features (Feast)")
        ok &= demo_features.run(client, console, home)
        return 0 if ok else 1
    finally:
        with console.status("shutting the platform down"):
            local.down()
        console.print(f"platform down; total {time.monotonic() - t0:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
