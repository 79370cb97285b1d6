"""The portal in a real browser (Debian's chromium driven by Playwright) against the real
local platform (the session's Ray, MLflow, BentoML): sign in, deploy a version, start a 20%
canary and watch its job's live progress and the split, change the weight, roll back; a
viewer sees no action control and a forged POST is refused; sign-out ends the session.
Every page is checked with axe-core, at a laptop and a phone width, with no Content
Security Policy violation. The screenshots go to docs/images/portal/ (docs/portal.md
shows them, so they stay current) and to the run's artifacts."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _models import sklearn_pipeline, training_frame
from _monitoring import write_traffic
from _synth import churn

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]
SHOTS = ROOT / "docs" / "images" / "portal"
ARTIFACTS = Path(os.environ.get("FERRY_TEST_ARTIFACTS", ROOT / ".test-artifacts")) / "portal"
AXE = ROOT / "services" / "ferry_server" / "portal" / "frontend" / "node_modules" / "axe-core" / \
    "axe.min.js"
NAME = "portal-e2e"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium (Playwright's own browser download cannot work here)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed: `make browser` (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="module")
def portal(running_platform: Any) -> Iterator[str]:
    """The control-plane app on a loopback port (a browser needs a socket), over the
    session's platform."""
    import uvicorn
    from _services import free_port

    from ferry_server import create_app

    app = create_app(platform_obj=running_platform, start_runtime=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="portal-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the portal did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def versions(client: Any) -> Iterator[tuple[int, int]]:
    """Two versions of a model, v1 champion through its gate (a loose one: these tests are
    about the portal, and v2 stands in for v1 either way)."""
    v1 = client.register(sklearn_pipeline(), name=NAME, training_data=training_frame(),
                         target="churned")
    v2 = client.register(sklearn_pipeline(seed=12, c=0.5), name=NAME,
                         training_data=training_frame(12), target="churned")
    client.create_eval_set(NAME, training_frame(33), label="churned", slice_column="plan",
                           pin=True)
    client.set_gate(NAME, tolerance=0.3, slice_tolerance=0.3, guardrails=[])
    client.set_champion(NAME, v1.version)
    yield v1.version, v2.version
    try:
        client.undeploy(NAME)
    except Exception:  # noqa: BLE001 - not deployed (a failed test)
        pass


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)
    shutil.copy(SHOTS / f"{name}.png", ARTIFACTS / f"{name}.png")


def accessible(page: Any) -> None:
    """axe-core's rules (WCAG 2.x A/AA and best practices) find nothing on the page."""
    page.evaluate(AXE.read_text())
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target).join(' ')}`)""")
    assert found == [], (page.url, found)


def fits(page: Any) -> None:
    """Nothing wider than the window: no sideways scrolling of the page itself."""
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, (page.url, wide)


def shown_job(page: Any) -> str | None:
    """The id of the job panel #job-area shows now (None: none yet)."""
    panel = page.locator("#job-area section.job")
    return panel.first.get_attribute("id") if panel.count() else None


def finish_job(page: Any, before: str | None, timeout_s: float = 300) -> list[str]:
    """Wait for the job the last action started to show in #job-area (not ``before``, the
    panel that showed until then: a slow POST leaves the last job's ended panel in place)
    and to end; the steps and percentages seen live."""
    seen: list[str] = []
    area = page.locator("#job-area")
    page.wait_for_function(
        """before => {
            const area = document.querySelector('#job-area');
            const job = area && area.querySelector('section.job');
            return (job && job.id !== before) || (area && area.querySelector('.error'));
        }""", arg=before, timeout=60_000)
    assert area.locator(".error").count() == 0 or area.locator("section.job").count(), \
        area.inner_text()
    panel = area.locator("section.job")
    deadline = time.monotonic() + timeout_s
    while True:
        state = panel.locator("[data-state]").get_attribute("data-state")
        now = f"{panel.locator('.percent').inner_text()} {panel.locator('.step').inner_text()}"
        if not seen or seen[-1] != now:
            seen.append(now)
        if state in ("succeeded", "failed"):
            assert state == "succeeded", panel.inner_text()
            return seen
        assert time.monotonic() < deadline, f"the job did not end: {seen[-3:]}"
        page.wait_for_timeout(200)


def confirm(page: Any, form: str, summary: str, button: str) -> str | None:
    """Open the form's confirmation and confirm; the job panel shown before (for
    :func:`finish_job`)."""
    before = shown_job(page)
    page.locator(f"{form} summary", has_text=summary).click()
    page.locator(form).get_by_role("button", name=button).click()
    return before


def test_a_deployer_ships_a_canary_and_rolls_back_in_the_browser(
        browser: Any, portal: str, versions: tuple[int, int], admin_token: str,
        client: Any) -> None:
    from playwright.sync_api import expect

    v1, v2 = versions
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    violations: list[str] = []
    # every Content-Security-Policy violation the page reports, with what caused it
    page.expose_function("ferryCspViolation", lambda v: violations.append(v))
    page.add_init_script("""document.addEventListener("securitypolicyviolation", e =>
        window.ferryCspViolation(`${location.pathname}: ${e.violatedDirective} by ` +
                                 `${e.sourceFile}:${e.lineNumber} ${e.sample}`));""")
    page.on("pageerror", lambda e: violations.append(f"{page.url}: {e}"))

    # sign in: a page asked for without a session leads to the sign-in form, then back
    page.goto(f"{portal}/portal/deployments")
    expect(page).to_have_url(f"{portal}/portal/sign-in?next=/portal/deployments")
    accessible(page)
    shoot(page, "sign-in")
    page.get_by_label("API token").fill(admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{portal}/portal/deployments")
    cookie = [c for c in context.cookies() if c["name"] == "ferry_session"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/portal"

    page.goto(f"{portal}/portal/models?q={NAME}")
    expect(page.get_by_role("link", name=NAME)).to_be_visible()
    accessible(page)
    shoot(page, "models")

    # deploy v1 from the model's page, following the job live
    page.goto(f"{portal}/portal/models/{NAME}")
    page.get_by_label("Version", exact=True).first.fill(str(v1))
    page.get_by_label("Replicas").fill("1")
    finish_job(page, confirm(page, "form[action='/portal/deployments']", "Deploy",
                             "Confirm deploy"))
    accessible(page)
    shoot(page, "model")

    # a 20% canary of v2: its gate evaluates it in the job, shown step by step
    page.goto(f"{portal}/portal/deployments/{NAME}")
    page.get_by_label(f"Version of {NAME}").fill(str(v2))
    page.get_by_label("Mode").select_option("canary")
    page.get_by_label("Weight (% of requests)").fill("20")
    steps = finish_job(page, confirm(page, "#rollout-form", "Start rollout", "Confirm rollout"))
    assert len(steps) >= 3, steps  # progress seen moving, not only the end
    state = page.locator("#deployment-state")
    expect(state.locator("tr", has_text="canary candidate")).to_contain_text("20%")
    expect(state.locator("tr", has_text="serving")).to_contain_text("80%")
    accessible(page)
    shoot(page, "deployment-canary")
    assert client.status(NAME).traffic and sorted(client.status(NAME).traffic.values()) == [20, 80]

    # the weight, then a rollback
    page.get_by_label("Candidate's weight (% of requests)").fill("50")
    finish_job(page, confirm(page, "#weight-form", "Change weight", "Confirm weight"), 120)
    expect(state.locator("tr", has_text="canary candidate")).to_contain_text("50%")
    finish_job(page, confirm(page, "#rollback-form", "Roll back", "Confirm rollback"), 120)
    expect(state.locator("tr", has_text="canary candidate")).to_have_count(0)
    expect(state.locator("tr", has_text="serving")).to_contain_text("100%")
    assert client.status(NAME).rollout is None
    shoot(page, "deployment")

    # the other main pages, each accessible
    for path, shot in ((f"/portal/models/{NAME}/compare?base={v1}&candidate={v2}", "compare"),
                       (f"/portal/models/{NAME}/versions/{v2}", "version"),
                       (f"/portal/jobs?target={NAME}", "jobs"),
                       (f"/portal/audit?resource=deployment/{NAME}", "audit"),
                       ("/portal/features", "features"), ("/portal/access", "access")):
        page.goto(portal + path)
        page.wait_for_load_state("networkidle")
        accessible(page)
        shoot(page, shot)
    expect(page.locator("#access-area")).to_be_empty()

    # a phone's width: everything readable without sideways scrolling
    page.set_viewport_size(PHONE)
    for path in (f"/portal/deployments/{NAME}", f"/portal/models/{NAME}", "/portal/jobs"):
        page.goto(portal + path)
        fits(page)
    shoot(page, "jobs-phone")
    page.goto(f"{portal}/portal/deployments/{NAME}")
    shoot(page, "deployment-phone")
    page.set_viewport_size(LAPTOP)
    fits(page)

    # sign out: the session ends on the server
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{portal}/portal/sign-in")
    page.goto(f"{portal}/portal/models")
    expect(page).to_have_url(f"{portal}/portal/sign-in?next=/portal/models")
    assert violations == [], violations
    context.close()


def test_a_viewer_sees_no_action_and_a_forged_post_is_refused(
        browser: Any, portal: str, versions: tuple[int, int], client: Any) -> None:
    from playwright.sync_api import expect

    team = "default"  # the admin's models are its one team's
    if "portal-viewer" not in [u.name for u in client.users()]:
        client.create_user("portal-viewer")
    client.set_member(team, "portal-viewer", "viewer")
    token = client.create_token(user="portal-viewer", ttl_days=1).token
    if NAME not in [d.name for d in client.deployments()]:
        client.deploy(NAME, version=versions[0], replicas=1)

    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.goto(f"{portal}/portal/sign-in")
    # the keyboard reaches the skip link first, then the form
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("id", "token")
    page.keyboard.type(token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{portal}/portal/models")

    page.goto(f"{portal}/portal/deployments/{NAME}")
    expect(page.locator("#deployment-state")).to_contain_text("Traffic split by release")
    assert page.locator("main form[method=post]").count() == 0
    assert page.locator("main details.confirm").count() == 0
    page.goto(f"{portal}/portal/models/{NAME}")
    assert page.locator("main form[method=post]").count() == 0

    csrf = page.locator("header input[name=csrf]").get_attribute("value")
    for path, form in ((f"/portal/deployments/{NAME}/rollback", {}),
                       (f"/portal/deployments/{NAME}/undeploy", {}),
                       ("/portal/deployments", {"model": NAME, "version": str(versions[1])})):
        r = context.request.post(portal + path, form={"csrf": csrf, **form},
                                 max_redirects=0)
        assert r.status == 403, (path, r.status)
        assert "deployer role in team" in r.text() and "portal-viewer" in r.text()
    assert client.status(NAME).release.release_id  # still serving

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{portal}/portal/sign-in")
    r = context.request.get(f"{portal}/portal/models", max_redirects=0)
    assert r.status == 303
    context.close()


def test_the_monitoring_page_draws_drift_over_time_and_the_alerts(
        browser: Any, portal: str, versions: tuple[int, int], admin_token: str,
        client: Any, running_platform: Any) -> None:
    """An hour of logged traffic (the real writer, as replicas log: 150 requests every 5
    minutes) whose ``monthly`` drifts in its last 20 minutes, labels for half of it, the
    report job's alerts: the monitoring page draws every chart (Chart.js under the strict
    CSP), passes axe, fits a phone."""
    from playwright.sync_api import expect

    if NAME not in [d.name for d in client.deployments()]:
        client.deploy(NAME, version=versions[0], replicas=1)
    release = client.status(NAME).release
    model = sklearn_pipeline()
    uri = running_platform.settings.prediction_log_uri
    now = time.time()
    labelled: list[dict[str, Any]] = []
    for k, minutes in enumerate(range(57, 0, -5)):  # one batch per 5-minute step
        rows = churn(150, seed=70 + k)
        if minutes <= 20:
            rows["monthly"] = rows["monthly"] + 0.8 * rows["monthly"].std()
        ids = write_traffic(uri, rows, model, release_id=release.release_id, deployment=NAME,
                            version=release.version, ts=now - minutes * 60,
                            request_prefix=f"mon{k}-", model_name=NAME,
                            latency_ms=[3.0 + (i % 11) + k for i in range(len(rows))])
        labelled += [{"request_id": rid, "label": int(y)}
                     for rid, y in zip(ids[:75], rows["churned"][:75], strict=True)]
    client.log_outcomes(NAME, labelled)
    report = client.monitoring(NAME, window="1h")  # the job: alerts for what drifted
    assert "monthly" in report.drifted()

    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{portal}/portal/sign-in")
    page.get_by_label("API token").fill(admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{portal}/portal/models")

    page.goto(f"{portal}/portal/deployments/{NAME}")
    page.get_by_role("link", name=f"Monitoring of {NAME}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Monitoring of {NAME}")
    page.wait_for_load_state("networkidle")
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() >= 5
    expect(page.locator("canvas[data-chart]:not([data-drawn])")).to_have_count(0)
    expect(page.locator("strong.bad")).to_contain_text("monthly")
    expect(page.locator("table.alerts")).to_contain_text("monthly")
    accessible(page)
    shoot(page, "monitoring")
    page.locator("details.numbers summary").first.click()
    expect(page.locator("details.numbers table").first).to_be_visible()
    page.get_by_label("Window", exact=True).select_option("6h")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page).to_have_url(f"{portal}/portal/deployments/{NAME}/monitoring?window=6h")
    page.set_viewport_size(PHONE)
    page.goto(f"{portal}/portal/deployments/{NAME}/monitoring")
    fits(page)
    shoot(page, "monitoring-phone")
    page.set_viewport_size(LAPTOP)

    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("table.alerts")).to_contain_text(NAME)
    accessible(page)
    shoot(page, "alerts")
    assert problems == [], problems
    context.close()
