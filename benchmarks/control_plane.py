"""Control-plane benchmark: read throughput and latency with 10,000 model versions, on
SQLite (embedded default) and PostgreSQL, and the deploy job's own overhead.

For each database: 10,000 model versions (100 models x 100 versions, with the lineage tags
Ferry writes) are created in MLflow on that database; the control plane starts API-only
(one uvicorn process, no Ray) and imports them into its catalog; then 8 closed-loop
clients read for a fixed time:

  detail          GET /v1/models/{m}/versions/{v}  (2,000 different versions in turn)
  list-versions   GET /v1/models/{m}/versions      (100 versions each)
  list-models     GET /v1/models                   (100 models)
  health          GET /v1/health                   (no database, no auth: the baseline)
  detail-uncached the detail reads again on a restarted control plane with the token and
                  version caches off (FERRY_AUTH_CACHE_S=0, FERRY_CATALOG_CACHE_VERSIONS=0):
                  every request queries the database

Deploy-job overhead: 30 deploys through the control plane's job path (authorization, lock,
job record, progress, audit, deployment record) with a runtime and packager that do no
work, so only the control plane's own time is measured.

Our goal: >= 500 req/s and p99 < 50 ms for detail reads on 2 cores.
Usage: uv run python benchmarks/control_plane.py [--versions 10000] [--duration 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HERE = Path(__file__).resolve().parent
console = Console()
PG = os.environ.get("FERRY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
PORT = 8792


@contextmanager
def postgres_databases(n: int) -> Any:
    import psycopg

    names = [f"ferry_bench_{uuid.uuid4().hex[:8]}" for _ in range(n)]
    admin = psycopg.connect(PG, autocommit=True)
    for name in names:
        admin.execute(f"CREATE DATABASE {name}")
    base = PG.rsplit("/", 1)[0]
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        for name in names:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def seed(tracking_uri: str, models: int, per_model: int) -> float:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    signature = json.dumps([{"name": c, "type": "double", "required": True}
                            for c in ("tenure", "monthly", "income", "tickets")])
    t0 = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("creating model versions in MLflow", total=models * per_model)
        for m in range(models):
            name = f"bench-{m:03d}"
            client.create_registered_model(name)
            for v in range(per_model):
                client.create_model_version(name, source=f"/tmp/bench/{name}/{v}", tags={
                    "ferry.framework": "sklearn", "ferry.model_uri": f"models:/m-{m}-{v}",
                    "ferry.model_digest": "sha256:" + "0" * 64,
                    "ferry.training_data_digest": "d" * 8, "ferry.code_version": "git:abc",
                    "ferry.signature": signature, "ferry.feature_refs": "[]"})
                bar.advance(task)
    return time.monotonic() - t0


def load(paths: list[str], token: str | None, duration: float, concurrency: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths))
    cmd = [sys.executable, str(HERE / "_load.py"), "http", "--target", f"127.0.0.1:{PORT}",
           "--paths-file", f.name, "--concurrency", str(concurrency), "--duration",
           str(duration), "--warmup", "2"]
    if token:
        cmd += ["--header", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def deploy_overhead(env: dict[str, str], n: int = 30) -> dict[str, float]:
    """Deploy jobs with a no-op runtime and packager: the control plane's own time."""
    from ferry_contract import DeploymentCreate
    from ferry_platform import Platform, Settings
    from ferry_platform.access import SYSTEM
    from ferry_platform.core import ReleaseManifest
    from ferry_platform.serving import AppState

    class NoopPackager:
        def build(self, version: Any) -> ReleaseManifest:
            rid = f"{version.name}-v{version.version}-bench"
            return ReleaseManifest(release_id=rid, model=version.name, version=version.version,
                                   model_uri=version.model_uri, model_digest=version.model_digest,
                                   training_data_digest="d", code_version="c", framework="sklearn",
                                   signature=version.signature, ferry_version="0",
                                   bento_tag=f"b:{rid}")

    class NoopRuntime:
        serving: dict[str, str] = {}

        def preflight(self, *a: Any, **k: Any) -> None: ...

        def apply(self, name: str, manifest: ReleaseManifest, *a: Any, **k: Any) -> None:
            self.serving[name] = manifest.release_id

        def state(self, name: str) -> AppState:
            return AppState("running")

        def endpoints(self, name: str, protocol: Any) -> Any:
            from ferry_contract import Endpoints
            return Endpoints(rest=f"http://x/{name}")

        def names(self) -> list[str]:
            return list(self.serving)

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        platform = Platform.from_settings(Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    runtime, packager = NoopRuntime(), NoopPackager()
    platform.releases._runtime = runtime  # type: ignore[assignment]
    platform.releases._packager = packager  # type: ignore[assignment]
    platform.runtime = runtime  # type: ignore[assignment]
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        job = platform.app.deployments.create(
            DeploymentCreate(model=f"bench-{i % 10:03d}", version=1 + i,
                             name=f"bench-dep-{i % 5}"), SYSTEM)
        done = platform.jobs.wait(job.id)
        assert done.state == "succeeded", done.error
        times.append(time.perf_counter() - t0)
    platform.jobs.shutdown()
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1000, "p99_ms": times[-1] * 1000, "n": n}


@contextmanager
def control_plane(env: dict[str, str]) -> Any:
    """Start the API-only control plane; yields the seconds it took to answer."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(HERE / "_control_plane_app.py"), str(PORT)],
                            env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the control plane did not start")
            time.sleep(0.5)
        yield time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(30)


def run_db(label: str, state_url: str, mlflow_url: str, home: Path,
           args: argparse.Namespace) -> dict[str, Any]:
    per_model = args.versions // args.models
    console.print(f"[bold]{label}[/bold]: seeding {args.models * per_model:,} model versions")
    seeded_s = seed(mlflow_url, args.models, per_model)
    env = {"FERRY_HOME": str(home), "FERRY_DATABASE_URL": state_url,
           "FERRY_MLFLOW_TRACKING_URI": mlflow_url}
    rng = random.Random(3)
    models = [f"bench-{m:03d}" for m in range(args.models)]
    detail = [f"/v1/models/{rng.choice(models)}/versions/{rng.randint(1, per_model)}"
              for _ in range(2000)]
    results = {}
    with control_plane(env) as start_s:
        token = (home / "admin-token").read_text().strip()
        check = httpx.get(f"http://127.0.0.1:{PORT}{detail[0]}",
                          headers={"Authorization": f"Bearer {token}"})
        assert check.status_code == 200 and check.json()["model_digest"].startswith("sha256:")
        variants = {
            "detail": (detail, token),
            "list-versions": ([f"/v1/models/{m}/versions" for m in models], token),
            "list-models": (["/v1/models"], token),
            "health": (["/v1/health"], None),
        }
        for name, (paths, tok) in variants.items():
            with console.status(f"{label}: {name}, {args.concurrency} clients, "
                                f"{args.duration:.0f}s"):
                results[name] = load(paths, tok, args.duration, args.concurrency)
    # the same detail reads with the token and version caches off: every request queries
    cold_env = {**env, "FERRY_AUTH_CACHE_S": "0", "FERRY_CATALOG_CACHE_VERSIONS": "0"}
    with control_plane(cold_env) as restart_s:
        with console.status(f"{label}: detail, caches off"):
            results["detail-uncached"] = load(detail, token, args.duration, args.concurrency)
    with console.status(f"{label}: deploy-job overhead"):
        overhead = deploy_overhead(env)
    return {"seed_s": seeded_s, "first_start_s": start_s, "restart_s": restart_s,
            "reads": results, "deploy_job": overhead}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "versions": args.versions}
    if args.db in ("sqlite", "both"):
        home = Path(tempfile.mkdtemp(prefix="ferry-bench-cp-"))
        figures["sqlite"] = run_db("SQLite", f"sqlite:///{home / 'ferry.db'}",
                                   f"sqlite:///{home / 'mlflow.db'}", home, args)
    if args.db in ("postgres", "both"):
        home = Path(tempfile.mkdtemp(prefix="ferry-bench-cp-"))
        with postgres_databases(2) as (state, mlflow_db):
            figures["postgres"] = run_db(
                "PostgreSQL", state.replace("postgresql://", "postgresql+psycopg://"),
                mlflow_db.replace("postgresql://", "postgresql+psycopg://"), home, args)
    for label in ("sqlite", "postgres"):
        if label not in figures:
            continue
        f = figures[label]
        base = f["reads"]["health"]["rps"]
        table = Table(title=f"{label}: {args.versions:,} model versions, {args.concurrency} "
                            f"clients, {args.duration:.0f}s per endpoint, one uvicorn process")
        for col in ("endpoint", "req/s", "p50 ms", "p99 ms", "errors", "× health"):
            table.add_column(col, justify="left" if col == "endpoint" else "right")
        for name, m in f["reads"].items():
            table.add_row(name, f"{m['rps']:.0f}", f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}",
                          str(m["errors"]), f"{m['rps'] / base:.2f}")
        console.print(table)
        d = f["reads"]["detail"]
        verdict = "met" if d["rps"] >= 500 and d["p99_ms"] < 50 else "NOT met"
        console.print(f"{label}: detail reads {d['rps']:.0f} req/s, p99 {d['p99_ms']:.1f} ms "
                      f"(goal >= 500 req/s, p99 < 50 ms: {verdict}); seeding MLflow "
                      f"{f['seed_s']:.0f}s; first start with catalog import "
                      f"{f['first_start_s']:.1f}s, restart {f['restart_s']:.1f}s; "
                      "deploy-job overhead p50 "
                      f"{f['deploy_job']['p50_ms']:.1f} ms, max {f['deploy_job']['p99_ms']:.1f} ms "
                      f"over {f['deploy_job']['n']} deploys")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
