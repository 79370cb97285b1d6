"""Autoscaling benchmark: a load step on an autoscaled deployment.

One local platform, one deployment with ``replicas="auto"`` (bounds --min/--max), a
closed-loop load of single-row REST requests in three phases:

  base   --base-clients (1) for --base-s seconds
  step   --clients (16) for --step-s seconds: replicas should rise, and p99 come back
         under --p99-ms (50) within --settle-s (30) of the step
  quiet  no load, until the replicas are back at the minimum (or --quiet-s passes)

Every --every seconds it records p50/p99 of the requests completed in that window and
the replicas running (the routers, which answer the serving release in-process and so
carry its load, and the release's own), from ``client.status``. Prints the timeline and:
seconds from the step to the first added replica, to the peak, to p99 back under the
bound (and whether it held), and from the end of the load to the minimum again.

The platform runs with FERRY_AUTOSCALE_DOWNSCALE_DELAY_S=--downscale-delay (10 here,
30 by default) and FERRY_ROUTER_REPLICAS=--min so the quiet phase fits a short run.

Usage: flock /tmp/ferry-ray.lock uv run python benchmarks/autoscaling.py [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from serving import free_port, training_data  # this script's directory is on sys.path
from sklearn.linear_model import LogisticRegression

import ferry
from ferry._local import LocalPlatform

console = Console()


class Load:
    """Closed-loop clients in a thread of their own; the count changes while it runs."""

    def __init__(self, url: str, token: str, row: dict[str, Any]) -> None:
        self.url, self.row = url, row
        self.headers = {"Authorization": f"Bearer {token}"}
        self.clients = 0
        self.samples: list[tuple[float, float, bool]] = []  # (end time, seconds, ok)
        self._stop = False
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._thread.join(timeout=30)

    async def _client(self, http: httpx.AsyncClient, index: int) -> None:
        body = {"inputs": [self.row]}
        while not self._stop:
            if index >= self.clients:
                await asyncio.sleep(0.05)
                continue
            t0 = time.perf_counter()
            try:
                ok = (await http.post(self.url, json=body, headers=self.headers)).status_code == 200
            except httpx.HTTPError:
                ok = False
            t1 = time.perf_counter()
            self.samples.append((t1, t1 - t0, ok))

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            await asyncio.gather(*(self._client(http, i) for i in range(32)))

    def window(self, start: float, end: float) -> dict[str, Any]:
        lat = [s for t, s, ok in self.samples if start <= t < end and ok]
        errors = sum(1 for t, _, ok in self.samples if start <= t < end and not ok)
        if not lat:
            return {"requests": 0, "errors": errors, "p50_ms": None, "p99_ms": None}
        arr = np.array(lat) * 1000
        return {"requests": len(lat), "errors": errors, "rps": round(len(lat) / (end - start)),
                "p50_ms": round(float(np.percentile(arr, 50)), 1),
                "p99_ms": round(float(np.percentile(arr, 99)), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min", type=int, default=1, help="min_replicas")
    ap.add_argument("--max", type=int, default=4, help="max_replicas")
    ap.add_argument("--base-clients", type=int, default=1)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--base-s", type=float, default=10)
    ap.add_argument("--step-s", type=float, default=60)
    ap.add_argument("--quiet-s", type=float, default=90)
    ap.add_argument("--settle-s", type=float, default=30)
    ap.add_argument("--p99-ms", type=float, default=50)
    ap.add_argument("--every", type=float, default=2)
    ap.add_argument("--downscale-delay", type=float, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ferry-autoscale-"))
    ports = {k: str(free_port()) for k in (
        "FERRY_PORT", "FERRY_SERVE_HTTP_PORT", "FERRY_SERVE_GRPC_PORT",
        "FERRY_SERVE_HAPROXY_STATS_PORT", "FERRY_SERVE_HAPROXY_METRICS_PORT")}
    env = {**ports, "FERRY_HOME": str(home), "FERRY_ROUTER_REPLICAS": str(args.min),
           "FERRY_AUTOSCALE_DOWNSCALE_DELAY_S": str(args.downscale_delay),
           "FERRY_MONITORING": "false"}
    os.environ.update(env)
    url = f"http://127.0.0.1:{ports['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    figures: dict[str, Any] = {"args": {k: (str(v) if isinstance(v, Path) else v)
                                        for k, v in vars(args).items()},
                               "cpus": os.cpu_count(), "timeline": []}
    load: Load | None = None
    try:
        with console.status("starting the local platform"):
            local.up(env=env)
        client = ferry.Client(url, token=local.admin_token())
        train = training_data()
        X = train.drop(columns=["churned"])
        model = LogisticRegression(max_iter=1000).fit(X, train["churned"])
        mv = client.register(model, name="bench", training_data=train, target="churned")
        row = {k: (v.item() if hasattr(v, "item") else v)
               for k, v in X.head(1).to_dict("records")[0].items()}
        with console.status(f"deploying autoscaled {args.min}..{args.max}"):
            dep = client.deploy("bench", version=mv.version, replicas="auto",
                                min_replicas=args.min, max_replicas=args.max)
            dep.predict([row], protocol="rest")
        info = client.status("bench")
        figures["deployed"] = {"replicas": info.replicas, "max_replicas": info.max_replicas}
        load = Load(f"{info.endpoints.rest}/predict", local.admin_token(), row)
        load.start()

        t0 = time.perf_counter()
        phases = [("base", args.base_clients, args.base_s), ("step", args.clients, args.step_s),
                  ("quiet", 0, args.quiet_s)]
        marks: dict[str, float] = {}
        for phase, clients, seconds in phases:
            load.clients = clients
            marks[phase] = time.perf_counter()
            end = marks[phase] + seconds
            while time.perf_counter() < end:
                w0 = time.perf_counter()
                time.sleep(args.every)
                w1 = time.perf_counter()
                st = client.status("bench")
                point = {"t": round(w1 - t0, 1), "phase": phase, "clients": clients,
                         "routers": st.router_replicas, "release": st.running_replicas,
                         **load.window(w0, w1)}
                figures["timeline"].append(point)
                console.print(point)
                if phase == "quiet" and st.router_replicas == args.min \
                        and w1 - marks[phase] > args.downscale_delay:
                    break
        tl = figures["timeline"]
        step = [p for p in tl if p["phase"] == "step"]
        step_t = round(marks["step"] - t0, 1)
        first_up = next((p["t"] for p in step if (p["routers"] or 0) > args.min), None)
        peak = max((p["routers"] or 0) for p in step) if step else None
        ok_from = None
        for i, p in enumerate(step):  # p99 under the bound from here to the end of the step
            if all(q["p99_ms"] is not None and q["p99_ms"] < args.p99_ms for q in step[i:]):
                ok_from = p["t"]
                break
        quiet = [p for p in tl if p["phase"] == "quiet"]
        back = next((p["t"] for p in quiet if p["routers"] == args.min), None)
        figures["summary"] = {
            "base_p99_ms": max((p["p99_ms"] or 0) for p in tl if p["phase"] == "base"),
            "step_at_s": step_t,
            "first_replica_added_after_s": round(first_up - step_t, 1) if first_up else None,
            "peak_router_replicas": peak,
            "p99_under_bound_after_s": round(ok_from - step_t, 1) if ok_from else None,
            "p99_goal_met": ok_from is not None and ok_from - step_t <= args.settle_s,
            "step_errors": sum(p["errors"] for p in step),
            "back_to_min_after_s": round(back - (marks["quiet"] - t0), 1) if back else None,
        }
        console.print(figures["summary"])
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0
    finally:
        if load is not None:
            load.stop()
        local.down()


if __name__ == "__main__":
    raise SystemExit(main())
