"""Serving benchmark: Ferry REST and gRPC vs `bentoml serve` vs a plain FastAPI app.

One run, one machine, the same model (LogisticRegression, or with --model pipeline a
StandardScaler + LogisticRegression pipeline), single-row requests from 16 concurrent
clients for a fixed duration against each variant in turn:

  ferry-rest    Ferry deployment, 2 replicas, REST through Serve's HAProxy ingress
  ferry-grpc    the same deployment over gRPC
  bentoml       `bentoml serve` of the very Bento Ferry built for that release
  plain-fastapi one uvicorn worker calling model.predict (the baseline)

Prints req/s, p50 and p99 per variant and the ratios to the baseline, plus the time from
deploy() to the first served prediction (Ray already up) and the local platform's resident
memory. Usage: uv run python benchmarks/serving.py [--duration 10] [--concurrency 16]

The prediction log's cost (monitoring on is the default): after the variants above, the
platform restarts with FERRY_MONITORING=false, serves the same release, and Ferry REST and
gRPC are measured again; then once more with monitoring on. The ratio on / off uses the
mean of the two "on" measurements (one before, one after), so drift of the machine during
the run does not count as the log's cost. --no-monitoring-compare skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd
import psutil
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ferry
from ferry._local import LocalPlatform

HERE = Path(__file__).resolve().parent
console = Console()
PORTS = {"FERRY_PORT": "8790", "FERRY_SERVE_HTTP_PORT": "8180", "FERRY_SERVE_GRPC_PORT": "9190",
         "FERRY_SERVE_HAPROXY_STATS_PORT": "8484"}
BENTO_PORT, PLAIN_PORT = 3190, 8191


def training_data(n: int = 5000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(1, 72, n), "monthly": rng.gamma(4, 20, n).round(2),
                       "income": rng.lognormal(10.5, 0.6, n).round(0),
                       "tickets": rng.poisson(1.0, n)})
    logit = -1 - 0.05 * df.tenure + 0.02 * df.monthly + 0.6 * df.tickets
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def platform_rss(pid: int, home: Path) -> int:
    """Resident memory of the local platform: the control plane's process tree plus every
    process of its Ray head's session (Ray, Serve, HAProxy, the replicas), which runs
    detached from the control plane."""
    from ferry_platform.serving import LocalRayHead
    from ferry_platform.serving._head import session_members

    procs = {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    head = LocalRayHead(home).record()
    if head is not None:
        procs.update(session_members(head.session))
    total = 0
    for p in procs:
        try:
            total += psutil.Process(p).memory_info().rss
        except psutil.Error:
            pass
    return total


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def load(mode: str, target: str, row: dict[str, Any], args: argparse.Namespace,
         **extra: str) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "_load.py"), mode, "--target", target,
           "--row", json.dumps(row), "--concurrency", str(args.concurrency),
           "--duration", str(args.duration), "--warmup", str(args.warmup)]
    for k, v in extra.items():
        cmd += [f"--{k}", v]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per variant")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="repeat every variant, keep the median")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--model", choices=["logreg", "pipeline"], default="logreg",
                    help="logreg: LogisticRegression (cheap predict, serving overhead shows); "
                         "pipeline: StandardScaler + LogisticRegression (≈ 2x the predict cost)")
    ap.add_argument("--serve-mode", choices=["throughput", "proxy"], default="throughput",
                    help="FERRY_SERVE_MODE of the platform under test")
    ap.add_argument("--no-monitoring-compare", dest="monitoring_compare", action="store_false",
                    help="skip measuring the prediction log's cost (two platform restarts)")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    env = {**PORTS, "FERRY_HOME": str(home), "FERRY_SERVE_MODE": args.serve_mode}
    os.environ.update(env)
    url = f"http://127.0.0.1:{PORTS['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {"serve_mode": args.serve_mode, "model": args.model,
                               "machine": {"cpus": os.cpu_count(),
                                           "memory_gib": round(psutil.virtual_memory().total / 2**30)}}
    try:
        t0 = time.monotonic()
        with console.status("starting the local platform"):
            pid = local.up(env=env)
        figures["platform_start_s"] = round(time.monotonic() - t0, 1)
        token = local.admin_token()
        client = ferry.Client(url, token=token)
        train = training_data()
        X = train.drop(columns=["churned"])
        estimator = LogisticRegression(max_iter=1000)
        model = (make_pipeline(StandardScaler(), estimator) if args.model == "pipeline"
                 else estimator).fit(X, train["churned"])
        mv = client.register(model, name="bench", training_data=train, target="churned")
        row = {k: (v.item() if hasattr(v, "item") else v)
               for k, v in X.head(1).to_dict("records")[0].items()}

        with console.status(f"deploying with {args.replicas} replicas"):
            t1 = time.monotonic()
            dep = client.deploy("bench", version=mv.version, replicas=args.replicas)
            first = dep.predict([row], protocol="rest")
            figures["deploy_to_first_prediction_s"] = round(time.monotonic() - t1, 1)
        assert first.predictions == model.predict(pd.DataFrame([row])).tolist()
        # A second deploy of the same version reuses the built release (no Bento build).
        figures["platform_rss_mib"] = round(platform_rss(pid, home) / 2**20)

        # Baselines: bentoml serve of the same Bento, and plain FastAPI.
        bento_env = {**os.environ, "BENTOML_HOME": str(home / "bentoml"),
                     "BENTOML_DO_NOT_TRACK": "True"}
        bentoml_exe = str(Path(sys.executable).with_name("bentoml"))
        procs.append(subprocess.Popen(
            [bentoml_exe, "serve", dep.info.release.bento_tag, "--port", str(BENTO_PORT),
             "--host", "127.0.0.1"], env=bento_env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        model_file = home / "model.joblib"
        joblib.dump(model, model_file)
        procs.append(subprocess.Popen([sys.executable, str(HERE / "_plain_app.py"),
                                       str(model_file), str(PLAIN_PORT)]))
        with console.status("starting bentoml serve and the plain FastAPI app"):
            wait_http(f"http://127.0.0.1:{BENTO_PORT}/readyz")
            wait_http(f"http://127.0.0.1:{PLAIN_PORT}/docs")

        rest = f"127.0.0.1:{PORTS['FERRY_SERVE_HTTP_PORT']}"

        def anonymous() -> dict[str, Any]:
            """The same deployment with the token check off (what the check costs)."""
            client.set_anonymous_predict("bench", True)
            time.sleep(2)  # the routers are reconfigured in place
            try:
                return load("http", rest, row, args, path="/bench/predict")
            finally:
                client.set_anonymous_predict("bench", False)
                time.sleep(2)

        variants = {
            "ferry-rest": lambda: load("http", rest, row, args, path="/bench/predict",
                                       token=token),
            "ferry-rest-no-token-check": anonymous,
            "ferry-grpc": lambda: load("grpc", f"127.0.0.1:{PORTS['FERRY_SERVE_GRPC_PORT']}", row,
                                       args, app="bench", token=token),
            "bentoml": lambda: load("http", f"127.0.0.1:{BENTO_PORT}", row, args,
                                    path="/predict"),
            "plain-fastapi": lambda: load("http", f"127.0.0.1:{PLAIN_PORT}", row, args,
                                          path="/predict"),
        }
        results: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
        for r in range(args.rounds):
            for name, run in variants.items():
                with console.status(f"round {r + 1}/{args.rounds}: {name} "
                                    f"({args.concurrency} clients, {args.duration:.0f}s)"):
                    results[name].append(run())
        median = {k: sorted(v, key=lambda x: x["rps"])[len(v) // 2] for k, v in results.items()}
        figures["variants"] = median
        base = median["plain-fastapi"]["rps"]
        table = Table(title=f"single-row predict, {args.concurrency} clients, "
                            f"{args.duration:.0f}s per variant, {args.replicas} Ferry replicas, "
                            f"serve mode {args.serve_mode}, model {args.model}")
        for col in ("variant", "req/s", "p50 ms", "p99 ms", "errors", "× plain FastAPI"):
            table.add_column(col, justify="right" if col != "variant" else "left")
        for name, m in median.items():
            table.add_row(name, f"{m['rps']:.0f}", f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}",
                          str(m["errors"]), f"{m['rps'] / base:.2f}")
        console.print(table)
        ratios = {
            "rest_vs_plain": median["ferry-rest"]["rps"] / base,
            "rest_vs_bentoml": median["ferry-rest"]["rps"] / median["bentoml"]["rps"],
            "grpc_vs_rest": median["ferry-grpc"]["rps"] / median["ferry-rest"]["rps"],
            "token_check_cost": 1 - median["ferry-rest"]["rps"]
            / median["ferry-rest-no-token-check"]["rps"],
        }
        figures["ratios"] = {k: round(v, 2) for k, v in ratios.items()}
        console.print(f"Ferry REST = {ratios['rest_vs_plain']:.2f}× plain FastAPI, "
                      f"{ratios['rest_vs_bentoml']:.2f}× bentoml serve; "
                      f"gRPC = {ratios['grpc_vs_rest']:.2f}× REST; the data plane's token "
                      f"check costs {100 * ratios['token_check_cost']:.1f}% of REST throughput")
        console.print(f"deploy() to first prediction (Ray up): "
                      f"{figures['deploy_to_first_prediction_s']} s; local platform start: "
                      f"{figures['platform_start_s']} s; resident memory of the local platform "
                      f"with {args.replicas} replicas: {figures['platform_rss_mib']} MiB")
        if args.monitoring_compare:
            figures["monitoring"] = monitoring_cost(args, local, env, mv.version, row,
                                                    median)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        ferry.Client(url, token=local.admin_token()).undeploy("bench")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        with console.status("stopping the local platform"):
            local.down()


def monitoring_cost(args: argparse.Namespace, local: LocalPlatform, env: dict[str, str],
                    version: int, row: dict[str, Any],
                    first_on: dict[str, Any]) -> dict[str, Any]:
    """Ferry REST and gRPC with the prediction log off, then on again (a restart each)."""
    rest = f"127.0.0.1:{PORTS['FERRY_SERVE_HTTP_PORT']}"
    grpc_target = f"127.0.0.1:{PORTS['FERRY_SERVE_GRPC_PORT']}"

    def phase(monitoring: bool) -> dict[str, Any]:
        with console.status(f"restarting with FERRY_MONITORING={str(monitoring).lower()}"):
            local.down()
            os.environ["FERRY_MONITORING"] = str(monitoring).lower()
            local.up(env={**env, "FERRY_MONITORING": str(monitoring).lower()})
            token = local.admin_token()
            client = ferry.Client(local.url, token=token)
            # Ray restarted with the platform: its start reconciles the recorded deployment
            # (a job), which serves the same release with the new environment.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                busy = [j for j in client.jobs(target="bench", limit=5) if not j.state.done]
                if not busy and client.status("bench").status == "running":
                    try:
                        client.deployment("bench").predict([row])
                        break
                    except ferry.FerryError:
                        pass
                time.sleep(1)
            else:
                raise RuntimeError("bench did not serve again after the restart")
        out = {}
        for name, run in (("rest", lambda: load("http", rest, row, args,
                                                 path="/bench/predict", token=token)),
                          ("grpc", lambda: load("grpc", grpc_target, row, args, app="bench",
                                                token=token))):
            with console.status(f"monitoring {'on' if monitoring else 'off'}: {name}"):
                out[name] = run()
        return out

    off = phase(False)
    on_again = phase(True)
    os.environ.pop("FERRY_MONITORING", None)
    table = Table(title="the prediction log's cost (same run, same release)")
    for col in ("protocol", "on (before) req/s", "off req/s", "on (after) req/s",
                "on / off", "p99 on / off ms"):
        table.add_column(col, justify="right" if col != "protocol" else "left")
    ratios = {}
    for proto, key in (("rest", "ferry-rest"), ("grpc", "ferry-grpc")):
        on = (first_on[key]["rps"] + on_again[proto]["rps"]) / 2
        ratios[proto] = on / off[proto]["rps"]
        table.add_row(proto, f"{first_on[key]['rps']:.0f}", f"{off[proto]['rps']:.0f}",
                      f"{on_again[proto]['rps']:.0f}", f"{ratios[proto]:.3f}",
                      f"{on_again[proto]['p99_ms']:.1f} / {off[proto]['p99_ms']:.1f}")
    console.print(table)
    return {"off": off, "on_after": on_again,
            "on_over_off": {k: round(v, 3) for k, v in ratios.items()}}


if __name__ == "__main__":
    sys.exit(main())
