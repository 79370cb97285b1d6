"""Pipelines benchmark: what the orchestrator costs per step and per run.

One run, one machine. The pipeline ``empty_steps`` (tests/pipelines_repo) calls an empty
``@step`` n times; it runs as the platform runs it — Prefect 3 flow in the process sandbox,
reporting to Prefect's local API server over SQLite, steps as Prefect tasks (threads; with
--ray-address, prefect-ray's RayTaskRunner on that cluster).

  per step   (t(n) - t(0)) / n over whole runs, and the median of the steps' own durations
             as the run recorded them; baseline: a plain call of the same empty function
             (the goal: <= 1 s per step)
  per run    t(0): a run with no step (process start, imports, the flow's bookkeeping)
  server     the local Prefect API server's first start

Usage: uv run python benchmarks/pipelines.py [--steps 20] [--rounds 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ferry_platform.pipelines import PrefectOrchestrator, RunRequest
from ferry_platform.sandbox import ProcessSandbox

ROOT = Path(__file__).resolve().parent.parent
REPO = ROOT / "tests" / "pipelines_repo"
console = Console()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ray-address", default=None, help="run steps as Ray tasks there")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    def empty() -> None:
        return None

    plain = timeit.timeit(empty, number=100_000) / 100_000
    with tempfile.TemporaryDirectory(prefix="ferry-bench-pipelines-") as tmp:
        orch = PrefectOrchestrator(ProcessSandbox(), home=Path(tmp) / "prefect",
                                   ray_address=args.ray_address)
        t0 = time.perf_counter()
        orch.api_url  # noqa: B018 - starts the local server
        server_s = time.perf_counter() - t0
        runs: dict[int, list[float]] = {0: [], args.steps: []}
        step_s: list[float] = []
        try:
            for _ in range(args.rounds):
                for n in (0, args.steps):
                    t0 = time.perf_counter()
                    out = orch.run(RunRequest(run_id=f"bench-{n}", module=
                                              "churn_pipelines.retrain:empty_steps",
                                              path=str(REPO), params={"n": n}, timeout_s=600))
                    runs[n].append(time.perf_counter() - t0)
                    assert out["state"] == "succeeded", out
                    step_s += [s["duration_s"] for s in out["steps"]]
        finally:
            orch.stop()
    run0 = statistics.median(runs[0])
    runn = statistics.median(runs[args.steps])
    per_step = (runn - run0) / args.steps
    result: dict[str, Any] = {
        "steps": args.steps, "rounds": args.rounds, "ray": bool(args.ray_address),
        "server_start_s": round(server_s, 2), "run_without_steps_s": round(run0, 2),
        "run_with_steps_s": round(runn, 2), "per_step_s": round(per_step, 3),
        "per_step_recorded_median_s": round(statistics.median(step_s), 3) if step_s else None,
        "plain_call_s": plain, "goal_per_step_s": 1.0, "goal_met": per_step <= 1.0}
    t = Table(title=f"pipelines: {args.steps} empty steps, {args.rounds} round(s)"
                    f"{', Ray tasks' if args.ray_address else ', threads'}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for k, v in result.items():
        t.add_row(k, f"{v:.3g}" if isinstance(v, float) else str(v))
    console.print(t)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
