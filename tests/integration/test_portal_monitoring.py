"""The portal's monitoring page and alerts list through the real app (TestClient), on a
real database with the real monitoring computation over a prediction log written by the
real writer (fakes only for MLflow/BentoML/Ray): who may see what (the API's rule, the
API's answer for another team), a shift injected into one feature shown over its
threshold in that feature's line and no other, "not enough data" said plainly, hostile
feature names and alert messages escaped, charts with an accessible table beside them,
alerts paged and their resolved ones linked."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from _control_plane import Env
from _models import FEATURES, sklearn_pipeline
from _monitoring import churn_reference
from _synth import churn
from fastapi.testclient import TestClient

from ferry_contract import ColumnSpec
from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'

PLAN = f"plan{HOSTILE}"
"""The churn model's categorical input, under a hostile name."""
COLUMNS = {"tenure": "long", "monthly": "double", "income": "double", "tickets": "long",
           PLAN: "string"}
RELEASE = "alpha-model-v1-x"


@pytest.fixture(scope="module")
def model() -> Any:
    return sklearn_pipeline()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, model: Any) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("portal-monitoring")
    e = Env(f"sqlite:///{home / 'state.db'}", home, monitor_interval_s=0, signatures={
        1: [ColumnSpec(name=n, type=t) for n, t in COLUMNS.items()]})
    ref = churn_reference(model)
    ref = ref.model_copy(update={
        "columns": {PLAN if k == "plan" else k: v for k, v in ref.columns.items()},
        "categories": {PLAN if k == "plan" else k: v for k, v in ref.categories.items()}})
    e.platform.app.monitoring.monitor.record_reference(
        release_id=RELEASE, model="alpha-model", version=1,
        signature=list(COLUMNS.items()), sample=ref, source="training")
    for name in ("m-churn", "m-thin", "m-quiet"):
        e.deploy("admin", name=name)
    e.deploy("deployer-b", model="beta-model", name="m-beta")
    yield e


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def traffic(env: Env, model: Any, deployment: str, frame: pd.DataFrame, *, ts: float,
            prefix: str) -> None:
    """One request per row, answered by ``model`` and logged as the release's replica
    logs it (the categorical input under its hostile name)."""
    log = PredictionLog(LogConfig(uri=env.platform.settings.prediction_log_uri))
    info = ReleaseInfo("alpha-model", 1, RELEASE, tuple(COLUMNS.items()))
    said = model.predict(frame[FEATURES]).tolist()
    proba = model.predict_proba(frame[FEATURES])
    for i in range(len(frame)):
        row = frame.iloc[i]
        log.record(Entry(
            release=info, ts=ts, request_id=f"{prefix}{i}", deployment=deployment,
            arm="stable", status=200, latency_ms=2.0 + (i % 7), rows=1,
            columns={c: [_plain(row["plan" if c == PLAN else c])] for c in COLUMNS},
            predictions=[said[i]], probabilities=proba[i:i + 1], classes=[0, 1]))
    log.flush()
    assert log.dropped == 0


@pytest.fixture(scope="module")
def shifted(env: Env, model: Any) -> Env:
    """m-churn: clean traffic 40 minutes ago, then traffic whose ``monthly`` is shifted by
    0.6 standard deviations in the last minutes; m-thin: 20 requests."""
    now = time.time()
    traffic(env, model, "m-churn", churn(900, seed=31), ts=now - 40 * 60, prefix="c")
    live = churn(900, seed=32)
    live["monthly"] = live["monthly"] + 0.6 * live["monthly"].std()
    traffic(env, model, "m-churn", live, ts=now - 60, prefix="s")
    traffic(env, model, "m-thin", churn(20, seed=33), ts=now - 60, prefix="t")
    return env


def session(env: Env, user: str) -> tuple[TestClient, str]:
    """A signed-in browser of ``user`` (as tests/integration/test_portal.py signs in)."""
    http = TestClient(env.app, base_url="http://ferry.test", raise_server_exceptions=False,
                      follow_redirects=False)
    form = http.get("/portal/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    r = http.post("/portal/sign-in", data={"csrf": csrf.group(1), "token": env.tokens[user],
                                           "next": "/portal/models"})
    assert r.status_code == 303, r.text
    return http, csrf.group(1)


def charts(page: str) -> dict[str, dict[str, Any]]:
    """Every chart's data block, by its id (the JSON is not executed: CSP)."""
    found = re.findall(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>',
                       page, re.S)
    return {k: json.loads(v) for k, v in found}


def test_a_shift_in_one_feature_shows_over_its_threshold_in_its_line_and_no_other(
        shifted: Env) -> None:
    http, _ = session(shifted, "viewer-a")
    r = http.get("/portal/deployments/m-churn/monitoring?window=1h")
    assert r.status_code == 200, r.text[:500]
    page = r.text
    drawn = charts(page)
    [drift_id] = [k for k in drawn if k.startswith("r0-drift")]
    drift = drawn[drift_id]
    assert drift["type"] == "line" and len(drift["labels"]) == 12
    lines = {s["label"]: s["data"] for s in drift["series"]}
    [threshold] = {v for v in lines.pop("threshold")}
    assert threshold == 0.1 and set(lines) == set(COLUMNS)  # Wasserstein / Jensen-Shannon
    scored = {c: [v for v in values if v is not None] for c, values in lines.items()}
    assert len(scored["monthly"]) == 2  # the clean step and the shifted one; others: gaps
    assert min(scored["monthly"]) < threshold < max(scored["monthly"])
    for column, values in scored.items():
        if column != "monthly":
            assert values and max(values) < threshold, (column, values)
    # the whole window's table: monthly drifted, nothing else
    table = page[page.index("Drift of each feature over the last 1h"):]
    table = table[:table.index("</table>")]
    failed = re.findall(r'<tr class="fail"><th scope="row">([^<]*)</th>', table)
    assert failed == ["monthly"]
    assert re.search(r"Drifted features</dt><dd><strong class=\"bad\">monthly</strong>", page)
    # every chart: a canvas with an aria-label and a table of its numbers in a <details>
    for chart_id, spec in drawn.items():
        canvas = re.search(rf'<canvas id="{chart_id}" data-chart="{chart_id}-data" '
                           r'role="img" aria-label="([^"]+)"', page)
        assert canvas and "the numbers are in the table" in canvas.group(1), chart_id
        after = page[page.index(f'id="{chart_id}-data"'):]
        numbers = after[after.index('<details class="numbers">'):after.index("</details>")]
        assert numbers.count("<tr>") == len(spec["labels"]) + 1, chart_id
    # fragility, prediction drift, latency and errors are drawn too
    assert {"r0-prediction", "r0-fragility", "r0-latency", "r0-errors"} <= set(drawn)
    latency = {s["label"]: s["data"] for s in drawn["r0-latency"]["series"]}
    assert [v for v in latency["p99 (ms)"] if v is not None]
    assert "No outcome with a label in this window yet" in page


def test_hostile_feature_names_and_alert_messages_render_as_text(shifted: Env) -> None:
    shifted.platform.app.monitoring.report_now("m-churn", "1h")  # opens monthly's alert
    shifted.platform.monitors.open_alert(
        deployment="m-churn", model="alpha-model", release_id=RELEASE, kind="null_rate",
        subject=PLAN, value=0.5, threshold=0.05, message=f"nulls in {PLAN}", team="alpha")
    http, _ = session(shifted, "viewer-a")
    for path in ("/portal/deployments/m-churn/monitoring", "/portal/alerts"):
        page = http.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page, path
    page = http.get("/portal/deployments/m-churn/monitoring").text
    # in the JSON blocks, tojson escapes the markup too (\u003c), and it parses back
    assert any(PLAN in [s["label"] for s in c["series"]] + c["labels"]
               for c in charts(page).values())
    assert re.search(r'<th scope="row">#\d+</th><td><span class="alert-state open">open'
                     r'</span></td>\s*<td><a href="/portal/deployments/m-churn/monitoring">'
                     r'm-churn</a>', page)
    assert "drift" in page and "monthly" in page


def test_not_enough_data_is_said_plainly(shifted: Env) -> None:
    http, _ = session(shifted, "viewer-a")
    thin = http.get("/portal/deployments/m-thin/monitoring?window=1h").text
    assert "Not enough data: 20 answered row(s) in the window, 100 needed" in thin
    assert "Drifted features</dt><dd>not scored: not enough data" in thin
    drift = [c for k, c in charts(thin).items() if k.startswith("r0-drift")]
    assert all(v is None for c in drift for s in c["series"] if s["label"] != "threshold"
               for v in s["data"])
    quiet = http.get("/portal/deployments/m-quiet/monitoring?window=6h").text
    assert "Not enough data: no logged traffic of m-quiet in the last 6h" in quiet
    assert 'option value="6h" selected' in quiet
    assert http.get("/portal/deployments/m-quiet/monitoring?window=3y").status_code == 400


@pytest.mark.parametrize(("user", "status"), [
    ("admin", 200), ("admin-a", 200), ("deployer-a", 200), ("viewer-a", 200),
    ("deployer-b", None), ("outsider", None)])
def test_each_role_sees_what_the_api_lets_it_see(shifted: Env, user: str,
                                                 status: int | None) -> None:
    api = shifted.http(shifted.tokens[user]).get("/v1/deployments/m-churn/monitoring")
    http, _ = session(shifted, user)
    r = http.get("/portal/deployments/m-churn/monitoring")
    if status is None:  # another team: exactly the API's refusal, with its reason
        assert api.status_code in (403, 404) and r.status_code == api.status_code
        assert api.json()["error"]["message"].split(";")[0][:40].replace("'", "&#39;") in \
            r.text.replace("&#34;", '"')
        assert "monthly" not in r.text
    else:
        assert r.status_code == 200 and "Monitoring of m-churn" in r.text
    # the beta team's deployment is theirs alone
    beta = http.get("/portal/deployments/m-beta/monitoring")
    expected = shifted.http(shifted.tokens[user]).get("/v1/deployments/m-beta/monitor")
    assert beta.status_code == (200 if user in ("admin", "deployer-b") else 403), beta.text[:300]
    assert expected.status_code == 200  # thresholds are public; reports are not


def test_without_a_session_the_page_sends_to_sign_in(shifted: Env) -> None:
    anonymous = TestClient(shifted.app, base_url="http://ferry.test", follow_redirects=False)
    for path in ("/portal/deployments/m-churn/monitoring", "/portal/alerts"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/portal/sign-in")
    r = anonymous.get("/portal/deployments/m-churn/monitoring", headers={"HX-Request": "true"})
    assert r.status_code == 401


def test_alerts_are_team_filtered_paged_and_resolved_ones_linked(shifted: Env) -> None:
    monitors = shifted.platform.monitors
    made = []
    for i in range(55):
        a = monitors.open_alert(deployment="m-thin", model="alpha-model", release_id=RELEASE,
                                kind="p99", subject=f"p{i}", value=float(i), threshold=1.0,
                                message=f"paged alert {i}", team="alpha")
        made.append(a.id)
    monitors.open_alert(deployment="m-beta", model="beta-model", release_id=None,
                        kind="error_rate", subject="", value=0.5, threshold=0.05,
                        message="beta's own alert", team="beta")
    done = monitors.resolve_alert(made[0], "paged alert 0 — resolved: the condition cleared")
    assert done is not None
    http, _ = session(shifted, "viewer-a")
    first = http.get("/portal/alerts").text
    assert "beta&#39;s own alert" not in first and "beta's own alert" not in first
    assert "paged alert 54" in first and first.count("paged alert ") == 50
    nxt = re.search(r'href="([^"]+)" rel="next"', first)
    assert nxt, "a next page"
    second = http.get(nxt.group(1).replace("&amp;", "&")).text
    assert "paged alert 4<" in second and "paged alert 54" not in second
    assert "paged alert 0 " not in second  # resolved: not among the open ones
    resolved = http.get("/portal/alerts?state=resolved").text
    assert "resolved: the condition cleared" in resolved
    # the deployment's page pages its alerts too and links to the resolved ones
    page = http.get("/portal/deployments/m-thin/monitoring").text
    assert page.count("paged alert ") == 50 and 'rel="next"' in page
    assert 'href="/portal/deployments/m-thin/monitoring?window=1h&amp;state=resolved#alerts"' \
        in page
    assert "resolved: the condition cleared" in \
        http.get("/portal/deployments/m-thin/monitoring?state=resolved").text
    # an admin filters by team and sees beta's too; the nav leads here
    admin, _ = session(shifted, "admin")
    assert "beta&#39;s own alert" in admin.get("/portal/alerts?team=beta").text
    assert 'href="/portal/alerts"' in first


def test_the_page_is_reachable_from_the_deployment_and_the_model(shifted: Env) -> None:
    http, _ = session(shifted, "viewer-a")
    link = 'href="/portal/deployments/m-churn/monitoring"'
    assert link in http.get("/portal/deployments/m-churn").text
    assert link in http.get("/portal/models/alpha-model").text


def test_the_page_keeps_the_strict_policy_and_no_inline_code(shifted: Env) -> None:
    http, _ = session(shifted, "admin")
    for path in ("/portal/deployments/m-churn/monitoring", "/portal/alerts"):
        r = http.get(path)
        assert r.status_code == 200
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        for tag in re.findall(r"<script\b[^>]*>", r.text):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        # (attribute values stripped: a hostile name may say "onerror=" inside aria-label)
        tags = [re.sub(r'"[^"]*"', '""', t) for t in re.findall(r"<[a-z][^>]*>", r.text)]
        assert not [t for t in tags if re.search(r"\s(style|on[a-z]+)=", t)], path
