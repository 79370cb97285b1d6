"""Rollout benchmark: how fast clients see each traffic transition, and what fails.

One local platform (ports of its own), one model in two versions, 1 replica each. Four
REST clients predict in a loop the whole time; for each transition

  canary start   v2 starts beside v1, then gets 10%
  weight change  10% -> 50%                 (the router's user_config only)
  promote        v2 -> 100%, v1 kept without traffic
  rollback       v1 -> 100% again           (a weight change: v1 was kept)
  upgrade        a plain deploy of a third version (a release start), the baseline

it prints the API call's duration, the seconds until the clients observe the new split
(first answer of the new release, last answer of the one leaving, or for the weight change
the candidate's share over 100 answers first reaching 30%), and the failed
requests (must be 0). Baseline: the plain upgrade, which starts replicas; the ratio shows
what keeping weights in the router's user_config saves. Then the evaluation time of a
10k-row evaluation set (candidate, champion, baseline, 5 metrics, slices, robustness)
against the time of one predict over the same rows.

Usage: uv run python benchmarks/rollout.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ferry
from ferry._local import LocalPlatform
from ferry_contract import RELEASE_HEADER

console = Console()
PORTS = {"FERRY_PORT": "8791", "FERRY_SERVE_HTTP_PORT": "8181", "FERRY_SERVE_GRPC_PORT": "9191",
         "FERRY_SERVE_HAPROXY_STATS_PORT": "8485"}


def data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(1, 72, n), "monthly": rng.gamma(4, 20, n).round(2),
                       "income": rng.lognormal(10.5, 0.6, n).round(0),
                       "tickets": rng.poisson(1.0, n), "region": rng.choice(["n", "s", "e"], n)})
    logit = -1 - 0.05 * df.tenure + 0.02 * df.monthly + 0.6 * df.tickets
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


FEATURES = ["tenure", "monthly", "income", "tickets"]


class Loop:
    def __init__(self, url: str, row: dict[str, Any], token: str, threads: int = 4) -> None:
        self.url, self.body = f"{url}/predict", json.dumps({"inputs": [row]})
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        self.answers: list[tuple[float, int | str, str | None]] = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                try:
                    r = http.post(self.url, content=self.body, headers=self.headers)
                    item: tuple[float, int | str, str | None] = (
                        time.monotonic(), r.status_code, r.headers.get(RELEASE_HEADER))
                except httpx.HTTPError as e:
                    item = (time.monotonic(), type(e).__name__, None)
                with self._lock:
                    self.answers.append(item)

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def window(self, start: float, end: float) -> list[tuple[float, int | str, str | None]]:
        with self._lock:
            return [a for a in self.answers if start <= a[0] < end]


def observed(answers: list[tuple[float, int | str, str | None]], start: float, *,
             first_of: str | None = None, last_of: str | None = None,
             share_of: tuple[str, float] | None = None) -> float | None:
    if share_of is not None:  # first time its share over the last 100 answers reaches it
        release, share = share_of
        for i in range(100, len(answers) + 1):
            window = answers[i - 100:i]
            if sum(a[2] == release for a in window) >= share * 100:
                return round(window[-1][0] - start, 2)
        return None
    if first_of is not None:
        hits = [a[0] for a in answers if a[2] == first_of]
        return round(min(hits) - start, 2) if hits else None
    hits = [a[0] for a in answers if a[2] == last_of]
    return round(max(hits) - start, 2) if hits else 0.0


def eval_benchmark(rows: int = 10_000) -> dict[str, Any]:
    from ferry_platform.evaluation import GateConfig, Scorer, evaluate, gates, robustness

    train, test = data(20_000, 1), data(rows, 2)
    cand = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        train[FEATURES], train["churned"])
    champ = LogisticRegression(max_iter=1000).fit(train[["income", "tickets"]], train["churned"])
    t0 = time.perf_counter()
    cand.predict_proba(test[FEATURES])
    predict_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    config = GateConfig(slice_column="region")
    result = evaluate("classification", test["churned"], [
        Scorer("candidate", cand.predict, test[FEATURES], cand.predict_proba, [0, 1]),
        Scorer("champion", champ.predict, test[["income", "tickets"]], champ.predict_proba,
               [0, 1])], slices=test["region"], gate=config, folds=5)
    robustness("classification", Scorer("candidate", cand.predict, test[FEATURES]))
    checks = gates(result, config)
    eval_s = time.perf_counter() - t0
    return {"rows": rows, "evaluation_s": round(eval_s, 2), "one_predict_s": round(predict_s, 4),
            "ratio": round(eval_s / predict_s, 1),
            "passed": all(c["passed"] for c in checks)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds of load after each step")
    args = ap.parse_args()

    figures: dict[str, Any] = {"evaluation": eval_benchmark()}
    home = Path(tempfile.mkdtemp(prefix="ferry-bench-rollout-"))
    env = {**PORTS, "FERRY_HOME": str(home)}
    os.environ.update(env)
    url = f"http://127.0.0.1:{PORTS['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    try:
        with console.status("starting the local platform"):
            local.up(env=env)
        client = ferry.Client(url, token=local.admin_token())
        train = data(3000, 3)
        versions = []
        for c in (1.0, 0.01, 0.1):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(
                train[FEATURES], train["churned"])
            versions.append(client.register(model, name="bench-roll",
                                             training_data=train[[*FEATURES, "churned"]],
                                             target="churned").version)
        with console.status("evaluation set; evaluating the candidates before the clock"):
            client.create_eval_set("bench-roll", data(2000, 4)[[*FEATURES, "churned"]],
                                   label="churned", pin=True)
            # this measures traffic, not models
            client.set_gate("bench-roll", tolerance=0.5, guardrails=[])
            for v in versions[1:]:
                client.evaluate("bench-roll", v)
        with console.status("deploying v1"):
            dep = client.deploy("bench-roll", version=versions[0], replicas=1)
        assert dep.info.endpoints.rest
        loop = Loop(dep.info.endpoints.rest, train[FEATURES].head(1).to_dict("records")[0],
                    local.admin_token())
        loop.start()
        time.sleep(args.settle)
        rows = []

        def step(label: str, call: Any, which: Any) -> Any:
            """Run ``call``; ``which(result)`` names the release whose first (or last)
            answer marks the new split: {"first_of": id} or {"last_of": id}."""
            t0 = time.monotonic()
            with console.status(label):
                result = call()
            took = time.monotonic() - t0
            time.sleep(args.settle)
            answers = loop.window(t0, time.monotonic())
            failed = [a for a in answers if a[1] != 200]
            rows.append({"transition": label, "api_s": round(took, 2),
                         "observed_s": observed(answers, t0, **which(result)),
                         "requests": len(answers), "failed": len(failed)})
            return result

        r1 = dep.release_id
        canary = step("canary start (10%)",
                      lambda: client.rollout("bench-roll", version=versions[1], canary=10),
                      lambda d: {"first_of": d.info.rollout.candidate.release_id})
        r2 = canary.info.rollout.candidate.release_id
        # 10% -> 50%: observed when the candidate's share over 100 answers first reaches 30%.
        step("weight 10% -> 50%", lambda: client.set_weight("bench-roll", 50),
             lambda d: {"share_of": (r2, 0.30)})
        step("promote", lambda: client.promote("bench-roll"), lambda d: {"last_of": r1})
        step("rollback", lambda: client.rollback("bench-roll"), lambda d: {"last_of": r2})
        step("plain upgrade (baseline)",
             lambda: client.deploy("bench-roll", version=versions[2], replicas=1),
             lambda d: {"first_of": d.release_id})
        loop.stop()
        figures["transitions"] = rows
        client.undeploy("bench-roll")
    finally:
        local.down()

    table = Table("transition", "API call s", "observed by clients s", "requests", "failed")
    for r in figures["transitions"]:
        table.add_row(r["transition"], str(r["api_s"]), str(r["observed_s"]),
                      str(r["requests"]), str(r["failed"]))
    console.print(table)
    base = next(r for r in figures["transitions"] if r["transition"].startswith("plain"))
    for r in figures["transitions"]:
        if r is not base and base["api_s"]:
            r["ratio_to_upgrade"] = round(r["api_s"] / base["api_s"], 2)
            console.print(f"{r['transition']}: {r['ratio_to_upgrade']}x the plain upgrade's "
                          "API time")
    ev = figures["evaluation"]
    console.print(f"evaluation of {ev['rows']} rows: {ev['evaluation_s']} s "
                  f"(one predict over them: {ev['one_predict_s']} s, ratio {ev['ratio']}x)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if any(r["failed"] for r in figures["transitions"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
