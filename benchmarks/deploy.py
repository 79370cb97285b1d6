"""Deploy benchmark: how long the user waits for a deploy, a canary start under load, and a
redeploy of what serves already, and where that time goes (each job's phases).

One local platform (ports and home of its own), one model in three versions. Measured, in
this order, with Ray already up:

  deploy          ``deploy()`` of v1 (``--replicas``) to its first served prediction
  redeploy        ``deploy()`` of v1 again (unchanged release) to its return
  canary start    ``rollout(v2, canary=10)`` while ``--clients`` clients predict in a loop
                  (benchmarks/_load.py): the API call, and the load's failed requests
  cold deploy     ``deploy()`` of v3 under a second name (a release never built), the same
                  path as the first deploy once the platform's first-use costs are paid

Each row prints the seconds of every phase the job recorded (``JobPublic.phases``: resolve,
build, preflight, start release, start router / switch traffic, stop unrouted releases).
Baseline, in the same run: with ``--baseline-env 'FERRY_X=0 FERRY_Y=...'`` the platform is
first started with those settings (a lever off), the same steps measured, then restarted
without them; the ratio of each figure to the baseline's is printed. Without it, ratios
are to the goals of issue 13 (15 s, 20 s, 3 s).

Usage: uv run python benchmarks/deploy.py [--replicas 2] [--clients 16] [--json out.json]
       [--baseline-env "FERRY_PREFLIGHT_WORKER=0"]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression

import ferry
from ferry._local import LocalPlatform

console = Console()
HERE = Path(__file__).parent
FEATURES = ["tenure", "monthly", "income", "tickets"]
GOALS = {"deploy": 15.0, "canary start": 20.0, "redeploy": 3.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(1, 72, n), "monthly": rng.gamma(4, 20, n).round(2),
                       "income": rng.lognormal(10.5, 0.6, n).round(0),
                       "tickets": rng.poisson(1.0, n)})
    logit = -1 - 0.05 * df.tenure + 0.02 * df.monthly + 0.6 * df.tickets
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def phases_of(client: ferry.Client, kind: str, target: str) -> dict[str, float]:
    """The newest ``kind`` job on ``target``: its phases' seconds, and the job's own."""
    job = client.jobs(kind=kind, target=target, limit=1)[0]
    out = {p.name: round(p.seconds or 0.0, 2) for p in job.phases}
    if job.started_at and job.finished_at:
        out["job"] = round((job.finished_at - job.started_at).total_seconds(), 2)
    return out


def start_load(url: str, row: dict[str, Any], token: str, clients: int,
               seconds: float) -> subprocess.Popen[str]:
    parsed = urlparse(url)
    cmd = [sys.executable, str(HERE / "_load.py"), "http",
           "--target", f"{parsed.hostname}:{parsed.port}", "--path", f"{parsed.path}/predict",
           "--row", json.dumps(row), "--token", token, "--concurrency", str(clients),
           "--duration", str(seconds), "--warmup", "0", "--until-signalled"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def measure(env_extra: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """One platform, started with ``env_extra``; every measured step, then down."""
    home = Path(tempfile.mkdtemp(prefix="ferry-bench-deploy-"))
    ports = {k: str(free_port()) for k in (
        "FERRY_PORT", "FERRY_SERVE_HTTP_PORT", "FERRY_SERVE_GRPC_PORT",
        "FERRY_SERVE_HAPROXY_STATS_PORT", "FERRY_SERVE_HAPROXY_METRICS_PORT")}
    env = {**ports, "FERRY_HOME": str(home), **env_extra}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    url = f"http://127.0.0.1:{ports['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {"env": env_extra, "steps": rows}
    try:
        t0 = time.monotonic()
        with console.status(f"starting the local platform {env_extra or ''}"):
            local.up(env=env)
        out["platform_start_s"] = round(time.monotonic() - t0, 1)
        token = local.admin_token()
        client = ferry.Client(url, token=token)
        train = data(3000, 3)
        versions = [client.register(LogisticRegression(C=c, max_iter=500).fit(
            train[FEATURES], train["churned"]), name="bench-deploy",
            training_data=train, target="churned").version for c in (1.0, 0.1, 0.01)]
        row = {k: (v.item() if hasattr(v, "item") else v)
               for k, v in train[FEATURES].head(1).to_dict("records")[0].items()}

        def step(label: str, kind: str, target: str, call: Any, **extra: Any) -> Any:
            t = time.monotonic()
            with console.status(label):
                result = call()
            took = round(time.monotonic() - t, 2)
            rows.append({"step": label, "seconds": took, "phases": phases_of(client, kind, target),
                         **extra})
            return result

        def first_prediction() -> Any:
            dep = client.deploy("bench-deploy", version=versions[0], replicas=args.replicas)
            dep.predict([row], protocol="rest")
            return dep

        dep = step("deploy", "deploy", "bench-deploy", first_prediction)
        step("redeploy", "deploy", "bench-deploy",
             lambda: client.deploy("bench-deploy", version=versions[0], replicas=args.replicas))
        assert dep.info.endpoints.rest
        load = start_load(dep.info.endpoints.rest, row, token, args.clients, args.load_s)
        time.sleep(args.settle)
        step("canary start", "rollout", "bench-deploy",
             lambda: client.rollout("bench-deploy", version=versions[1], canary=10,
                                    override_reason="benchmark of the deploy path"))
        time.sleep(args.settle)
        client.abort("bench-deploy")
        if load.poll() is None:
            load.terminate()  # --until-signalled: it stops and prints its figures
        stdout, stderr = load.communicate(timeout=60)
        lines = stdout.strip().splitlines()
        figures = json.loads(lines[-1]) if lines else {}
        rows[-1].update(load_requests=figures.get("requests"), load_errors=figures.get("errors"),
                        load_rps=round(figures.get("rps", 0.0)))
        if not lines:
            rows[-1]["load_errors"] = f"load generator ended early: {stderr[-300:]}"
        step("cold deploy", "deploy", "bench-deploy-b",
             lambda: client.deploy("bench-deploy", version=versions[2], name="bench-deploy-b",
                                   replicas=args.replicas).predict([row], protocol="rest"))
        client.undeploy("bench-deploy-b")
        client.undeploy("bench-deploy")
    finally:
        local.down()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out


def show(run: dict[str, Any], base: dict[str, Any] | None) -> None:
    names: list[str] = []
    for r in run["steps"]:
        names += [n for n in r["phases"] if n not in names and n != "job"]
    t = Table("step", "seconds", "ratio", *names, "job", "load errors",
              title=f"platform {run['env'] or 'as configured'} "
                    f"(started in {run.get('platform_start_s')} s)")
    for r in run["steps"]:
        b = next((x for x in (base or {}).get("steps", []) if x["step"] == r["step"]), None)
        if b is not None and b["seconds"]:
            ratio = f"{r['seconds'] / b['seconds']:.2f}x baseline"
        elif r["step"] in GOALS:
            ratio = f"{r['seconds'] / GOALS[r['step']]:.2f}x goal"
        else:
            ratio = ""
        t.add_row(r["step"], f"{r['seconds']:.1f}", ratio,
                  *[f"{r['phases'][n]:.1f}" if n in r["phases"] else "" for n in names],
                  f"{r['phases'].get('job', 0):.1f}", str(r.get("load_errors", "")))
    console.print(t)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--clients", type=int, default=16, help="clients predicting in a loop "
                    "during the canary start")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds of load before and "
                    "after the canary start")
    ap.add_argument("--load-s", type=float, default=120.0, help="the load's longest duration")
    ap.add_argument("--baseline-env", default="", help="settings for a first platform run, "
                    "the baseline (e.g. a lever turned off): 'NAME=value NAME=value'")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    figures: dict[str, Any] = {"replicas": args.replicas, "clients": args.clients,
                               "machine": {"cpus": os.cpu_count(),
                                           "load_average_at_start": os.getloadavg()}}
    base = None
    if args.baseline_env:
        extra = dict(kv.split("=", 1) for kv in shlex.split(args.baseline_env))
        base = figures["baseline"] = measure(extra, args)
        show(base, None)
        if args.json:  # kept even if the second platform fails to start
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    run = figures["run"] = measure({}, args)
    show(run, base)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    failed = [r for r in run["steps"] if r.get("load_errors")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
