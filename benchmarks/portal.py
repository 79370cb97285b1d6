"""Portal benchmark: server time per page with 10,000 model versions and 1,000 audit rows,
against the JSON API answering the same data in the same run (the baseline), and the first
contentful paint of each main page in headless chromium on loopback.

The control plane runs over a real SQLite database with the fakes of tests/_control_plane.py
for MLflow, BentoML and Ray (the portal reads the catalog, jobs and audit tables, which
are real here): 10,000 versions in the catalog (one model with 5,000, 50 models with 100),
1,000 audit events, 50 jobs and a deployment with a canary under way. Each page is asked
for ``--rounds`` times in process (TestClient: routing, session lookup, the application
layer, rendering; no socket), after a warm-up, and its p50 / p99 printed next to the API
call that returns the same rows.

Goals (issue 15): p50 <= 50 ms and p99 <= 200 ms per page; first contentful paint <= 1 s.
Usage: uv run python benchmarks/portal.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
console = Console(width=150)
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def seed(env: Any) -> None:
    catalog = env.platform.registry._catalog
    base = env.client(env.admin).version("alpha-model", 1).model_dump(mode="json")
    base["params"] = {"max_iter": "60", "C": "1.0"}
    base["metrics"] = {"train_auc": 0.91, "train_log_loss": 0.31}
    layout = [("big-model", 5000)] + [(f"model-{i:02d}", 100) for i in range(50)]
    db = env.platform.db
    from sqlalchemy.dialects import sqlite

    from ferry_platform.store._tables import CatalogModel, CatalogVersion, ModelOwner, now

    t0 = time.monotonic()
    with db.engine.begin() as conn:
        for name, count in layout:
            conn.execute(sqlite.insert(CatalogModel).values(
                name=name, payload={"name": name, "description": f"{name}: churn scorer",
                                    "experiment_id": "1", "latest_version": count,
                                    "aliases": {"champion": count - 1}}, updated_at=now())
                .on_conflict_do_nothing())
            conn.execute(sqlite.insert(ModelOwner).values(model=name, team="alpha")
                         .on_conflict_do_nothing())
            conn.execute(sqlite.insert(CatalogVersion), [
                {"name": name, "version": v, "updated_at": now(),
                 "payload": {**base, "name": name, "version": v}} for v in range(1, count + 1)])
    del catalog
    identity = env.identity
    for i in range(1000):
        identity.audit("deployer-a", "deploy", f"deployment/model-{i % 50:02d}", "alpha",
                       "succeeded", {"job": f"{i:016x}", "to_release": f"model-v{i}-abc"})
    console.print(f"seeded 10,000 versions and 1,000 audit rows in {time.monotonic() - t0:.1f} s")


def sign_in(http: Any, token: str) -> str:
    form = http.get("/portal/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    r = http.post("/portal/sign-in", data={"csrf": csrf, "token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(http.cookies.get("ferry_session"))


def timed(http: Any, path: str, rounds: int, headers: dict[str, str] | None = None) -> list[float]:
    for _ in range(5):
        r = http.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        http.get(path, headers=headers)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def first_paint(url: str, cookie: str, paths: list[str]) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    found: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.add_cookies([{"name": "ferry_session", "value": cookie, "url": url + "/portal/",
                              "httpOnly": True, "sameSite": "Strict"}])
        for path in paths:
            runs = []
            for _ in range(5):
                page = context.new_page()
                page.goto(url + path, wait_until="load")
                assert "/sign-in" not in page.url, page.url
                runs.append(page.evaluate("""() => new Promise(done => new PerformanceObserver(
                    list => { const e = list.getEntriesByName('first-contentful-paint')[0];
                              if (e) done(e.startTime); })
                    .observe({type: 'paint', buffered: true}))"""))
                page.close()
            found[path] = statistics.median(runs[1:])  # the first run warms the file cache
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    import uvicorn
    from _control_plane import Env
    from _services import free_port
    from fastapi.testclient import TestClient

    home = Path(tempfile.mkdtemp(prefix="ferry-bench-portal-"))
    env = Env(f"sqlite:///{home / 'state.db'}", home)
    seed(env)
    env.deploy("admin", name="model-00")
    env.client(env.admin).rollout("model-00", version=2, canary=20,
                                  override_reason="benchmark: a canary under way")
    http = TestClient(env.app, base_url="http://ferry.test")
    cookie = sign_in(http, env.tokens["deployer-a"])
    api = {"authorization": f"Bearer {env.tokens['deployer-a']}"}
    last_audit = env.client(env.admin).audit(limit=1)[0].id
    pages = [
        ("models, first page", "/portal/models", "/v1/models?limit=50"),
        ("models, search", "/portal/models?q=model-4", "/v1/models?q=model-4&limit=50"),
        ("model with 5,000 versions", "/portal/models/big-model",
         "/v1/models/big-model/versions?limit=50"),
        ("same, page 80", "/portal/models/big-model?before=1000",
         "/v1/models/big-model/versions?before=1000&limit=50"),
        ("version (lineage)", "/portal/models/big-model/versions/4321",
         "/v1/models/big-model/versions/4321"),
        ("deployments", "/portal/deployments", "/v1/deployments"),
        ("deployment (canary)", "/portal/deployments/model-00", "/v1/deployments/model-00"),
        ("monitoring (no traffic yet)", "/portal/deployments/model-00/monitoring",
         "/v1/alerts?deployment=model-00"),
        ("alerts", "/portal/alerts", "/v1/alerts"),
        ("jobs", "/portal/jobs", "/v1/jobs?limit=50"),
        ("audit, first page", "/portal/audit", "/v1/audit?limit=50"),
        ("audit, page 15", f"/portal/audit?before={last_audit - 700}",
         f"/v1/audit?limit=50&before={last_audit - 700}"),
        ("access", "/portal/access", "/v1/teams"),
        ("features", "/portal/features", "/v1/features/views"),
    ]
    table = Table(title=f"Portal pages, server time in process, {args.rounds} requests each "
                        "(10,000 versions, 1,000 audit rows)")
    for column in ("page", "portal p50 ms", "portal p99 ms", "API p50 ms", "API p99 ms",
                   "portal / API (p50)", "goal"):
        table.add_column(column, justify="left" if column == "page" else "right")
    worst_p50 = worst_p99 = 0.0
    for label, page, call in pages:
        portal = timed(http, page, args.rounds)
        baseline = timed(http, call, args.rounds, headers=api)
        p50, p99 = pct(portal, 50), pct(portal, 99)
        worst_p50, worst_p99 = max(worst_p50, p50), max(worst_p99, p99)
        table.add_row(label, f"{p50:.1f}", f"{p99:.1f}", f"{pct(baseline, 50):.1f}",
                      f"{pct(baseline, 99):.1f}", f"{p50 / pct(baseline, 50):.2f}x",
                      "met" if p50 <= 50 and p99 <= 200 else "NOT met")
    console.print(table)

    server = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="off",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}"
    paints = first_paint(url, cookie, ["/portal/models", "/portal/models/big-model",
                                       "/portal/deployments/model-00", "/portal/audit",
                                       "/portal/deployments/model-00/monitoring",
                                       "/portal/models/alpha-model/compare?base=1&candidate=2"])
    server.should_exit = True
    thread.join(10)
    paint_table = Table(title="First contentful paint, headless chromium on loopback "
                              "(median of 4 after one warm-up)")
    paint_table.add_column("page")
    paint_table.add_column("FCP ms", justify="right")
    paint_table.add_column("goal", justify="right")
    for path, ms in paints.items():
        paint_table.add_row(path, f"{ms:.0f}", "met" if ms <= 1000 else "NOT met")
    console.print(paint_table)
    console.print(f"worst page: p50 {worst_p50:.1f} ms (goal 50), p99 {worst_p99:.1f} ms "
                  f"(goal 200); worst first contentful paint {max(paints.values()):.0f} ms "
                  "(goal 1,000)")


if __name__ == "__main__":
    main()
