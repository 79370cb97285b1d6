"""Features benchmark: online lookups, feature-enriched serving, point-in-time joins.

One run, one machine, three measurements, each against a baseline measured in the same run:

  online lookup    p50/p99 of one entity's pinned features through Ferry's Feast reader,
                   SQLite (the embedded default, the baseline) vs Redis (127.0.0.1:6379)
  enriched serving the same LogisticRegression deployed twice on the local platform: once
                   registered from a training set (requests carry `customer_id`, the replica
                   reads 3 features from the online store) and once model-only (requests carry
                   the 3 features; the baseline). Single-row requests, 1 client (latency) and
                   16 clients (throughput). Our goal: features add <= 2 ms at p50.
  PIT join         a point-in-time training set of 100k entity rows over 100k feature rows,
                   through Feast (duckdb offline store, and the `file` store of the S3 path)
                   vs pandas.merge_asof computing the same frame (the baseline); the results
                   are checked equal.

Usage: uv run python benchmarks/features.py [--duration 8] [--lookups 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression

import ferry
from ferry._local import LocalPlatform

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
console = Console()
PORTS = {"FERRY_PORT": "8791", "FERRY_SERVE_HTTP_PORT": "8181", "FERRY_SERVE_GRPC_PORT": "9191",
         "FERRY_SERVE_HAPROXY_STATS_PORT": "8485"}
FEATURES = ["tenure_months", "monthly_charges", "support_tickets"]
REDIS_DB = 12
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def snapshots(n_customers: int, weeks: int, seed: int = 1) -> pd.DataFrame:
    """Weekly snapshots per customer, the newest an hour ago."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(1, n_customers + 1), weeks)
    week = np.tile(np.arange(weeks), n_customers)
    times = [NOW - timedelta(hours=1) - timedelta(weeks=int(weeks - 1 - w)) for w in range(weeks)]
    return pd.DataFrame({
        "customer_id": ids,
        "event_timestamp": pd.Series(np.array(times)[week]).astype("datetime64[us, UTC]"),
        "tenure_months": rng.integers(1, 72, len(ids)),
        "monthly_charges": rng.gamma(4.0, 20.0, len(ids)).round(2),
        "support_tickets": rng.poisson(1.0, len(ids)),
    })


def entity_rows(n: int, n_customers: int, weeks: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = rng.integers(0, 24 * 7 * weeks, n)
    return pd.DataFrame({"customer_id": rng.integers(1, n_customers + 1, n),
                         "event_timestamp": pd.Series([NOW - timedelta(hours=int(h))
                                                       for h in hours]).astype("datetime64[us, UTC]")})


def write_repo(repo: Path, data: pd.DataFrame) -> None:
    (repo / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "features" / "customers.py", repo / "customers.py")
    data.to_parquet(repo / "data" / "customer_stats.parquet", index=False)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] * 1000


# -- 1. online lookups ----------------------------------------------------------------------
def online_lookups(work: Path, data: pd.DataFrame, n: int) -> dict[str, dict[str, float]]:
    import redis

    from ferry_platform.features import FeastFeatures

    out = {}
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    for store in ("sqlite", "redis"):
        repo = work / f"lookup-{store}"
        write_repo(repo, data)
        feats = FeastFeatures(repo=repo, project=f"bench{store}",
                              registry_uri=str(repo / "registry.db"), online_store=store,
                              redis=f"127.0.0.1:6379,db={REDIS_DB}")
        feats.apply()
        feats.materialize(NOW - timedelta(weeks=10), NOW)
        refs = feats.pin([f"customer_stats:{f}" for f in FEATURES])
        rng = np.random.default_rng(4)
        ids = rng.integers(1, int(data.customer_id.max()) + 1, n + 200).tolist()
        lat = []
        for i, cid in enumerate(ids):
            t = time.perf_counter()
            row = feats.online(refs, [{"customer_id": cid}])
            if i >= 200:  # warm-up excluded
                lat.append(time.perf_counter() - t)
            assert row["tenure_months"][0] is not None
        out[store] = {"p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "lookups": len(lat)}
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    return out


# -- 2. enriched vs model-only serving ------------------------------------------------------
def load(row: dict[str, Any], path: str, concurrency: int, duration: float,
         token: str) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "_load.py"), "http", "--target",
           f"127.0.0.1:{PORTS['FERRY_SERVE_HTTP_PORT']}", "--path", path, "--row", json.dumps(row),
           "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", "2",
           "--token", token]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def serving(work: Path, data: pd.DataFrame, duration: float, rounds: int) -> dict[str, Any]:
    home = work / "platform"
    write_repo(home / "features", data)
    env = {**PORTS, "FERRY_HOME": str(home)}
    os.environ.update(env)
    url = f"http://127.0.0.1:{PORTS['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    with console.status("starting the local platform"):
        local.up(env=env)
    try:
        client = ferry.Client(url, token=local.admin_token())
        client.apply_features()
        client.materialize(NOW - timedelta(weeks=10), NOW)
        ts = client.training_set([f"customer_stats:{f}" for f in FEATURES],
                                 entity_rows(3000, int(data.customer_id.max()), 6))
        train = ts.frame.dropna()
        train = train.assign(churned=(train.support_tickets * 20 + train.monthly_charges
                                      > 100).astype(int))
        model = LogisticRegression(max_iter=2000).fit(train[FEATURES], train["churned"])
        with_features = client.register(model, name="bench-features", target="churned",
                                        training_data=ferry.TrainingSet(train, ts.feature_refs,
                                                                        ts.entity_columns))
        model_only = client.register(model, name="bench-model-only", target="churned",
                                     training_data=train[[*FEATURES, "churned"]])
        with console.status("deploying both (1 replica each)"):
            client.deploy("bench-features", version=with_features.version, replicas=1)
            client.deploy("bench-model-only", version=model_only.version, replicas=1)
        cid = 42
        feats_row = train[train.customer_id == cid].iloc[-1] if (train.customer_id == cid).any() \
            else train.iloc[0]
        key_row = {"customer_id": int(feats_row.customer_id)}
        plain_row = {"tenure_months": int(feats_row.tenure_months),
                     "monthly_charges": float(feats_row.monthly_charges),
                     "support_tickets": int(feats_row.support_tickets)}
        # sanity: both answer, the enriched one with the pinned refs
        got = client.deployment("bench-features").predict([key_row])
        assert got.feature_refs == ts.feature_refs, got
        client.deployment("bench-model-only").predict([plain_row])
        results: dict[str, Any] = {}
        for conc in (1, 16):
            for name, row, path in (("model-only", plain_row, "/bench-model-only/predict"),
                                    ("enriched", key_row, "/bench-features/predict")):
                runs = []
                for r in range(rounds):
                    with console.status(f"{name}, {conc} client(s), round {r + 1}/{rounds}"):
                        runs.append(load(row, path, conc, duration, local.admin_token()))
                results[f"{name}@{conc}"] = sorted(runs, key=lambda x: x["p50_ms"])[len(runs) // 2]
        return results
    finally:
        with console.status("stopping the platform"):
            local.down()


# -- 3. point-in-time join ------------------------------------------------------------------
def pit_join(work: Path, n_rows: int, n_customers: int, weeks: int) -> dict[str, Any]:
    from ferry_platform.features import FeastFeatures

    data = snapshots(n_customers, weeks, seed=7)
    entities = entity_rows(n_rows, n_customers, weeks)
    out: dict[str, Any] = {"entity_rows": n_rows, "feature_rows": len(data)}

    t = time.perf_counter()
    left = entities.assign(_row=np.arange(len(entities))).sort_values("event_timestamp")
    merged = pd.merge_asof(left, data.sort_values("event_timestamp"), on="event_timestamp",
                           by="customer_id", direction="backward",
                           tolerance=pd.Timedelta(days=30))
    want = merged.sort_values("_row").reset_index(drop=True)[FEATURES]
    out["merge_asof_s"] = time.perf_counter() - t

    for store in ("duckdb", "file"):
        repo = work / f"pit-{store}"
        write_repo(repo, data)
        feats = FeastFeatures(repo=repo, project=f"pit{store}",
                              registry_uri=str(repo / "registry.db"), offline_store=store)
        feats.apply()
        feats.training_set([f"customer_stats:{f}" for f in FEATURES], entities.head(100))
        t = time.perf_counter()
        ts = feats.training_set([f"customer_stats:{f}" for f in FEATURES], entities)
        out[f"feast_{store}_s"] = time.perf_counter() - t
        pd.testing.assert_frame_equal(ts.frame[FEATURES].astype(float), want.astype(float))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per serving variant")
    ap.add_argument("--rounds", type=int, default=3, help="serving rounds; the median is kept")
    ap.add_argument("--lookups", type=int, default=3000, help="online lookups per store")
    ap.add_argument("--pit-rows", type=int, default=100_000, help="entity rows in the PIT join")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ferry-bench-features-"))
    data = snapshots(2000, 6)
    figures: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}
    try:
        with console.status("online lookups: SQLite and Redis"):
            figures["online_lookup"] = lookup = online_lookups(work, data, args.lookups)
        table = Table(title=f"online lookup of 3 pinned features for one entity "
                            f"({args.lookups} sequential lookups)")
        for col in ("store", "p50 ms", "p99 ms", "p50 × SQLite"):
            table.add_column(col, justify="right" if col != "store" else "left")
        for store, m in lookup.items():
            table.add_row(store, f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}",
                          f"{m['p50_ms'] / lookup['sqlite']['p50_ms']:.2f}")
        console.print(table)

        with console.status(f"point-in-time join of {args.pit_rows:,} entity rows"):
            figures["pit_join"] = pit = pit_join(work, args.pit_rows, 10_000, 10)
        console.print(f"point-in-time join, {pit['entity_rows']:,} entity rows over "
                      f"{pit['feature_rows']:,} feature rows: Feast duckdb "
                      f"{pit['feast_duckdb_s']:.2f} s, Feast file {pit['feast_file_s']:.2f} s, "
                      f"pandas merge_asof {pit['merge_asof_s']:.2f} s (duckdb = "
                      f"{pit['feast_duckdb_s'] / pit['merge_asof_s']:.1f}× merge_asof); "
                      "results equal")

        figures["serving"] = srv = serving(work, data, args.duration, args.rounds)
        table = Table(title=f"single-row predict, same model, {args.duration:.0f}s per variant, "
                            f"median of {args.rounds} rounds, 1 replica each")
        for col in ("variant", "clients", "req/s", "p50 ms", "p99 ms", "errors"):
            table.add_column(col, justify="right" if col != "variant" else "left")
        for key, m in srv.items():
            name, conc = key.split("@")
            table.add_row(name, conc, f"{m['rps']:.0f}", f"{m['p50_ms']:.2f}",
                          f"{m['p99_ms']:.2f}", str(m["errors"]))
        console.print(table)
        added = {c: srv[f"enriched@{c}"]["p50_ms"] - srv[f"model-only@{c}"]["p50_ms"]
                 for c in (1, 16)}
        figures["features_added_p50_ms"] = added
        figures["enriched_rps_vs_model_only_16"] = (srv["enriched@16"]["rps"]
                                                   / srv["model-only@16"]["rps"])
        console.print(f"features add {added[1]:.2f} ms at p50 with 1 client (goal <= 2 ms), "
                      f"{added[16]:.2f} ms with 16; enriched throughput = "
                      f"{figures['enriched_rps_vs_model_only_16']:.2f}× model-only")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
