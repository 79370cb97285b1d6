"""Batch scoring benchmark: Ferry's Ray Data batch job vs `model.predict` in one process.

One run, one machine, the same fitted model: a table of --rows rows x --features numeric
features (a hidden generator), written as --files Parquet files, is scored

  in-process   `model.predict` on the whole frame already in memory, in this process
               (the baseline: no reading, no writing, one core for a single-threaded model)
  ferry-batch  `client.batch_score(...)` on a local platform: the deployment's release
               loaded by --actors scorer actors (Ray Data map_batches, actor pool), Parquet
               read and written by Ray tasks; rows/s from the job's own clock (pipeline
               start to last file written, actor start-up and Bento loads included) and
               end to end (the API call to the finished job, as a user waits)

and the ratio ferry-batch / in-process (goal: >= 0.7). Every output row is checked
against the baseline's prediction before anything is reported.

--model logreg (LogisticRegression: predict costs ~nothing, so the ratio measures
Ferry's I/O and pipeline overhead) or forest (a RandomForest, n_jobs=1: predict dominates,
as for most models worth batch-scoring).

Usage (Ray starts: hold the lock):
  flock /tmp/ferry-ray.lock uv run python benchmarks/batch.py --rows 1000000 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

import ferry
from ferry._local import LocalPlatform

console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def table(rows: int, features: int, seed: int) -> pd.DataFrame:
    """Hidden generator: numeric features, a label from a known nonlinear rule."""
    rng = np.random.default_rng(seed)
    data = {f"f{i:02d}": rng.normal(0, 1 + i % 5, rows) for i in range(features)}
    frame = pd.DataFrame(data)
    score = frame["f00"] * frame["f01"] + np.sin(frame["f02"]) - 0.3 * frame["f03"]
    return frame.assign(label=(score + rng.normal(0, 0.5, rows) > 0).astype(int))


def fit(kind: str, train: pd.DataFrame) -> Any:
    X, y = train.drop(columns=["label"]), train["label"]
    if kind == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=60, max_depth=10, n_jobs=1,
                                      random_state=0).fit(X, y)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(X, y)


def scorer_only(args: argparse.Namespace) -> int:
    """The per-actor cost of Ferry's scorer (frame building, lineage) in one process."""
    from ferry_contract import ColumnSpec
    from ferry_platform.core import ReleaseManifest
    from ferry_platform.serving import BatchSpec, SourceInfo
    from ferry_platform.serving._batch import Scorer

    class Service:
        def __init__(self, model: Any) -> None:
            self.predict_frame = model.predict

    model = fit(args.model, table(20_000, args.features, seed=1))
    frame = table(args.rows, args.features, seed=2).drop(columns=["label"])
    sig = [ColumnSpec(name=c, type="double") for c in frame.columns]
    manifest = ReleaseManifest(release_id="bench-v1", model="bench", version=1,
                               model_uri="models:/m", model_digest="sha256:0",
                               training_data_digest="sha256:1", code_version="git:0",
                               framework="sklearn", signature=sig, ferry_version="0",
                               bento_tag="b:1")
    spec = BatchSpec(release={}, source=SourceInfo([], "parquet", [], {}, None, "sha256:0"),
                     dest="", as_of=None)
    scorer = Scorer(spec, loaded=(manifest, Service(model)))
    t0 = time.perf_counter()
    want = model.predict(frame)
    base = args.rows / (time.perf_counter() - t0)
    import pyarrow as pa

    arrow = pa.Table.from_pandas(frame, preserve_index=False)  # as Ray Data's blocks hold it
    t1 = time.perf_counter()
    got = [scorer(arrow.slice(i, args.batch_rows))  # Arrow batches, as the actors get them
           for i in range(0, args.rows, args.batch_rows)]
    ferry_rate = args.rows / (time.perf_counter() - t1)
    assert (pa.concat_tables(got).column("prediction").to_numpy() == want).all()
    figures = {"rows": args.rows, "features": args.features, "model": args.model,
               "batch_rows": args.batch_rows, "in_process_rows_per_s": round(base),
               "scorer_rows_per_s": round(ferry_rate), "ratio": round(ferry_rate / base, 3)}
    console.print_json(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--files", type=int, default=8, help="Parquet files the input is split in")
    ap.add_argument("--model", choices=["logreg", "forest"], default="forest")
    ap.add_argument("--actors", type=int, default=2, help="FERRY_BATCH_ACTORS")
    ap.add_argument("--batch-rows", type=int, default=50_000, help="FERRY_BATCH_ROWS")
    ap.add_argument("--rounds", type=int, default=1, help="repeat each variant, keep the median")
    ap.add_argument("--duration", type=float, default=0,
                    help="accepted for symmetry with the other benchmarks; unused")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--scorer-only", action="store_true",
                    help="no platform, no Ray: time Ferry's scorer (what each actor runs) "
                         "in this process against model.predict on the same frame")
    args = ap.parse_args()
    if args.scorer_only:
        return scorer_only(args)

    home = Path(tempfile.mkdtemp(prefix="ferry-bench-batch-"))
    ports = {k: str(free_port()) for k in (
        "FERRY_PORT", "FERRY_SERVE_HTTP_PORT", "FERRY_SERVE_GRPC_PORT",
        "FERRY_SERVE_HAPROXY_STATS_PORT", "FERRY_SERVE_HAPROXY_METRICS_PORT")}
    cpus = os.cpu_count() or 2
    env = {**ports, "FERRY_HOME": str(home), "FERRY_BATCH_ACTORS": str(args.actors),
           "FERRY_BATCH_ACTOR_CPUS": str(round(cpus / args.actors * 0.9, 2)),
           "FERRY_BATCH_ROWS": str(args.batch_rows), "FERRY_MONITORING": "false"}
    os.environ.update(env)
    url = f"http://127.0.0.1:{ports['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    figures: dict[str, Any] = {"rows": args.rows, "features": args.features,
                               "files": args.files, "model": args.model,
                               "actors": args.actors, "rounds": args.rounds,
                               "machine": {"cpus": cpus,
                                           "load_average_at_start":
                                               [round(x, 2) for x in os.getloadavg()]}}
    try:
        with console.status("starting the local platform"):
            local.up(env=env)
        client = ferry.Client(url, token=local.admin_token())
        train = table(20_000, args.features, seed=1)
        model = fit(args.model, train)
        mv = client.register(model, name="bench-batch", training_data=train, target="label")
        with console.status("deploying (1 replica)"):
            dep = client.deploy("bench-batch", version=mv.version, replicas=1)
        frame = table(args.rows, args.features, seed=2).drop(columns=["label"])
        root = Path(client.batch.roots()[dep.info.team][0])  # the team's data root
        src = root / "input"
        src.mkdir(parents=True)
        for i, part in enumerate(np.array_split(frame.assign(row_id=np.arange(args.rows)),
                                                args.files)):
            part.to_parquet(src / f"part-{i:03d}.parquet", index=False)

        base, job_rates, e2e_rates = [], [], []
        for r in range(args.rounds):
            t0 = time.perf_counter()
            want = model.predict(frame)
            base.append(args.rows / (time.perf_counter() - t0))
            dest = root / f"scores-{r}"
            with console.status(f"round {r + 1}: batch scoring {args.rows:,} rows"):
                t1 = time.perf_counter()
                job = client.batch_score("bench-batch", source=str(src), dest=str(dest),
                                         keep=["row_id"])
                e2e_rates.append(args.rows / (time.perf_counter() - t1))
            assert job.result is not None
            job_rates.append(float(job.result["rows_per_s"]))
            out = pd.read_parquet(dest, columns=["row_id", "prediction", "release_id"])
            out = out.sort_values("row_id")
            assert len(out) == args.rows and (out["prediction"].to_numpy() == want).all(), \
                "batch output differs from model.predict"
            assert out["release_id"].nunique() == 1
        figures.update({
            "in_process_rows_per_s": round(statistics.median(base)),
            "batch_job_rows_per_s": round(statistics.median(job_rates)),
            "batch_end_to_end_rows_per_s": round(statistics.median(e2e_rates)),
        })
        figures["ratio_job"] = round(figures["batch_job_rows_per_s"]
                                     / figures["in_process_rows_per_s"], 2)
        figures["ratio_end_to_end"] = round(figures["batch_end_to_end_rows_per_s"]
                                            / figures["in_process_rows_per_s"], 2)
        out_table = Table(title=f"{args.rows:,} rows x {args.features} features, "
                                f"{args.model}, {args.actors} actors, {cpus} cores")
        for col in ("variant", "rows/s", "x in-process"):
            out_table.add_column(col)
        out_table.add_row("in-process model.predict", f"{figures['in_process_rows_per_s']:,}",
                          "1.00")
        out_table.add_row("ferry batch (job clock)", f"{figures['batch_job_rows_per_s']:,}",
                          f"{figures['ratio_job']:.2f}")
        out_table.add_row("ferry batch (end to end)",
                          f"{figures['batch_end_to_end_rows_per_s']:,}",
                          f"{figures['ratio_end_to_end']:.2f}")
        console.print(out_table)
        console.print_json(json.dumps(figures))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        with console.status("stopping the local platform"):
            local.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
