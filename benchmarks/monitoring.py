"""Monitoring benchmark: the monitoring job over a large prediction log, and its storage.

Writes N logged rows × F numeric features (default 1,000,000 × 20) with the real writer,
in files of --rows-per-file (as serving processes flush them), then times the report of
that window — read, fragility counts, Evidently's drift tests, latency — in this process
and, with --ray, as Ray tasks on a local Ray of --cpus CPUs (the scans spread over the
cores). Prints the seconds per phase, the log's bytes per million rows, and the figures as
JSON with --json. Usage: uv run python benchmarks/monitoring.py [--rows 1000000] [--ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ferry_contract import ReferenceSample
from ferry_platform.monitoring import LocalExecutor, MonitoringService, RayExecutor
from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo

console = Console()


def write_log(root: Path, rows: int, features: int, per_file: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(features)]
    info = ReleaseInfo("bench", 1, "bench-v1-x", tuple((n, "double") for n in names))
    log = PredictionLog(LogConfig(uri=str(root), queue_max=10**9))
    t0 = time.perf_counter()
    batch = 10_000
    now = time.time()
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        cols = {name: rng.normal(i % 5, 1 + i % 3, n).tolist() for i, name in enumerate(names)}
        shift = 0.7 if start >= rows // 2 else 0.0  # the second half of f00 drifts
        cols[names[0]] = (np.asarray(cols[names[0]]) + shift).tolist()
        log.record(Entry(release=info, ts=now, request_id=f"b{start}", deployment="bench",
                         arm="stable", status=200, latency_ms=float(rng.gamma(2, 2)),
                         rows=n, columns=cols, predictions=rng.integers(0, 2, n).tolist()))
        if (start + n) % per_file == 0 or start + n >= rows:
            log.flush()
    assert log.dropped == 0 and log.written == rows
    return time.perf_counter() - t0


def reference(features: int, seed: int = 1) -> ReferenceSample:
    rng = np.random.default_rng(seed)
    cols = {f"f{i:02d}": rng.normal(i % 5, 1 + i % 3, 2000).tolist() for i in range(features)}
    return ReferenceSample(rows_total=100_000, columns=cols,
                           predictions=rng.integers(0, 2, 2000).tolist(), classes=None)


def timed_report(svc: MonitoringService, features: int) -> tuple[float, dict[str, Any]]:
    sig = [(f"f{i:02d}", "double") for i in range(features)]
    end = datetime.now(UTC) + timedelta(minutes=1)
    t0 = time.perf_counter()
    report = svc.report(deployment="bench", window="2h", start=end - timedelta(hours=2),
                        end=end, releases=[svc.release_spec("bench-v1-x", "bench", 1, sig)],
                        thresholds={"min_rows": 100})
    return time.perf_counter() - t0, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--rows-per-file", type=int, default=20_000)
    ap.add_argument("--ray", action="store_true", help="also run the job as Ray tasks")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ferry-bench-monitoring-"))
    figures: dict[str, Any] = {"rows": args.rows, "features": args.features,
                               "cpus": os.cpu_count()}
    try:
        with console.status(f"writing {args.rows:,} rows × {args.features} features"):
            figures["write_s"] = round(write_log(home / "log", args.rows, args.features,
                                                 args.rows_per_file), 1)
        svc = MonitoringService(str(home / "log"), str(home / "refs"),
                                executor=LocalExecutor())
        size = svc.logs.bytes_used()
        files = len(list((home / "log").rglob("*.parquet")))
        figures["files"] = files
        figures["mib_per_million_rows"] = round(size / 2**20 * 1e6 / args.rows, 1)
        svc.record_reference(release_id="bench-v1-x", model="bench", version=1,
                             signature=[(f"f{i:02d}", "double") for i in range(args.features)],
                             sample=reference(args.features), source="training")
        t0 = time.perf_counter()
        import evidently  # noqa: F401 - what the first job of a process pays once

        figures["evidently_import_s"] = round(time.perf_counter() - t0, 1)
        with console.status("the monitoring job in this process"):
            seconds, report = timed_report(svc, args.features)
        figures["job_in_process_s"] = round(seconds, 2)
        drifted = [d["column"] for d in report["releases"][0]["drift"] if d["drifted"]]
        assert drifted == ["f00"], drifted
        assert report["releases"][0]["rows"] == args.rows
        if args.ray:
            import ray

            from ferry_platform.serving import serve_env  # noqa: F401 - the job's env

            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
            try:
                svc.executor = RayExecutor()
                with console.status("warming the Ray workers (Evidently's import, once)"):
                    t0 = time.perf_counter()
                    timed_report(svc, args.features)
                    figures["job_ray_first_s"] = round(time.perf_counter() - t0, 2)
                with console.status("the monitoring job as Ray tasks"):
                    runs = [timed_report(svc, args.features)[0] for _ in range(3)]
                figures["job_ray_s"] = round(sorted(runs)[1], 2)
            finally:
                ray.shutdown()
        table = Table(title=f"monitoring job over {args.rows:,} rows × {args.features} features "
                            f"({files} files)")
        table.add_column("what")
        table.add_column("value", justify="right")
        for k, v in figures.items():
            table.add_row(k, str(v))
        console.print(table)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
