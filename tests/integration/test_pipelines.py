"""Pipelines as code on the session's platform (real MLflow, Prefect's local API server
once per session, runs in the process sandbox; no Ray): the nightly retraining of a model
from a hidden generator stops at the gate when nothing changed, every run is shared in
MLflow good or bad, a failing step names itself, retries count, overlapping runs are
skipped, schedules and drift alerts start runs; the demo's own retraining part
(examples/demo_pipelines.py, as `make demo` runs it) stops at the gate."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _synth import churn

import ferry
from ferry_contract import AlertPublic, PipelineFailed, RunState, Trigger

REPO = Path(__file__).parent.parent / "pipelines_repo"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"
MODEL = "churn-pl"
FEATURES = ["tenure", "monthly", "income", "tickets"]

pytestmark = pytest.mark.xdist_group("pipelines")


@pytest.fixture(scope="module")
def served(platform_core: Any) -> Iterator[str]:
    """The control plane on a loopback port: a run's process talks back over HTTP."""
    import uvicorn
    from _services import free_port

    from ferry_server import create_app

    app = create_app(platform_obj=platform_core, start_runtime=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="pipelines-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.config.port}"
    before = platform_core.settings.public_url
    platform_core.settings.public_url = url
    yield url
    platform_core.settings.public_url = before
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The team's pipeline repository, with the hidden generator beside it."""
    root = tmp_path_factory.mktemp("pipelines-repo")
    shutil.copytree(REPO / "churn_pipelines", root / "churn_pipelines")
    shutil.copy(Path(__file__).parent.parent / "_synth.py", root / "synth_gen.py")
    return root


@pytest.fixture(scope="module")
def champion(registry_client: ferry.Client, served: str) -> int:
    """churn-pl v1, trained on the generator's data, champion through a gate pinned on an
    evaluation set of the same generator."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    c = registry_client
    frame = churn(3000, seed=1)[FEATURES + ["churned"]]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        frame[FEATURES], frame["churned"])
    v1 = c.register(model, name=MODEL, training_data=frame, target="churned")
    c.create_eval_set(MODEL, churn(2000, seed=99)[FEATURES + ["churned"]], label="churned",
                      pin=True)
    c.set_champion(MODEL, v1.version)
    return v1.version


def _register(c: ferry.Client, repo: Path, attr: str, **kw: Any) -> Any:
    return c.register_pipeline(f"churn_pipelines.retrain:{attr}", name=attr, path=str(repo),
                               timeout_s=600, **kw)


def test_nightly_run_with_unchanged_data_stops_at_the_gate(
        registry_client: ferry.Client, repo: Path, champion: int, platform_core: Any) -> None:
    c = registry_client
    p = _register(c, repo, "retrain_churn", schedule="0 3 * * *", on_alert=[f"{MODEL}:drift"])
    assert p.next_run_at is not None and p.next_run_at.hour == 3
    steps: list[str] = []
    run = c.run_pipeline("retrain_churn", params={"seed": 7},
                         on_progress=lambda s, pct: steps.append(s))
    assert run.state is RunState.succeeded, run.error
    assert [s.name for s in run.steps] == ["training_set", "train", "register", "evaluate"]
    assert any("step register" in s for s in steps), steps  # progress from Prefect's API
    new = run.result["version"]  # type: ignore[index]
    assert run.registered == [f"{MODEL}/{new}"]
    assert abs(run.result["gain"]) < 0.01 and run.result["gate"] != "canary"  # type: ignore[index]
    assert run.canary is None and run.evaluations, run
    assert run.data_digest and run.data_digest.startswith("sha256:")
    assert run.code_version and run.trigger is Trigger.manual
    assert c.model(MODEL).aliases["champion"] == champion  # never promoted by a pipeline
    # shared in MLflow: the run, its params, metrics, links; the version points back
    from mlflow import MlflowClient

    ml = MlflowClient(platform_core.settings.mlflow_tracking_uri)
    mr = ml.get_run(run.mlflow_run_id)
    assert mr.data.tags["ferry.registered"] == f"{MODEL}/{new}"
    assert mr.data.tags["ferry.data_digest"] == run.data_digest
    assert mr.data.params["param.seed"] == "7" and "gain" in mr.data.metrics
    assert run.id in ml.get_model_version(MODEL, str(new)).tags["ferry.pipeline_run"]
    # the run's token was revoked, and could not have promoted
    assert all(t.scope != "pipeline" or t.revoked_at for t in c.tokens())


def test_a_failing_step_fails_the_run_naming_it(registry_client: ferry.Client, repo: Path,
                                                served: str, platform_core: Any) -> None:
    c = registry_client
    _register(c, repo, "broken")
    with pytest.raises(PipelineFailed, match="validate.*ValueError: no rows for 2026-12-01"):
        c.run_pipeline("broken")
    [run] = c.pipeline_runs("broken")
    assert run.state is RunState.failed and run.failed_step == "validate"
    assert [(s.name, s.state) for s in run.steps] == [("load", RunState.succeeded),
                                                     ("validate", RunState.failed)]
    from mlflow import MlflowClient

    mr = MlflowClient(platform_core.settings.mlflow_tracking_uri).get_run(run.mlflow_run_id)
    assert mr.info.status == "FAILED" and mr.data.tags["ferry.failed_step"] == "validate"


def test_a_step_is_retried(registry_client: ferry.Client, repo: Path, served: str,
                           tmp_path: Path) -> None:
    c = registry_client
    _register(c, repo, "retried")
    run = c.run_pipeline("retried", params={"marker": str(tmp_path / "attempts")})
    assert run.state is RunState.succeeded and run.result == {"attempts": 2}
    assert run.steps[0].attempts == 2


def test_overlapping_runs_are_skipped_and_schedules_start_runs(
        registry_client: ferry.Client, repo: Path, served: str, platform_core: Any) -> None:
    c = registry_client
    p = _register(c, repo, "slow", overlap="skip", schedule="*/5 * * * *")
    first = c.run_pipeline("slow", params={"seconds": 20}, wait=False)
    time.sleep(0.5)
    second = c.run_pipeline("slow", wait=False)
    assert second.state is RunState.skipped and first.id in second.reason
    # the schedule comes due while the first runs: skipped too, never a second at once
    started = platform_core.app.pipelines.tick(p.updated_at + timedelta(minutes=5))
    assert [r.state for r in started] == ["skipped"] and started[0].trigger == "schedule"
    assert c.wait(first.job_id).state.value == "succeeded"
    runs = c.pipeline_runs("slow")
    assert sum(r.state is RunState.succeeded for r in runs) == 1
    assert sum(r.state is RunState.skipped for r in runs) == 2


def test_a_drift_alert_starts_the_pipelines_listening_to_it(
        registry_client: ferry.Client, repo: Path, champion: int, platform_core: Any) -> None:
    c = registry_client
    _register(c, repo, "retrain_churn", on_alert=[f"{MODEL}:drift"])
    alert = AlertPublic(id=1, deployment=MODEL, model=MODEL, kind="prediction_drift",
                        subject="score", state="open", team="default",
                        opened_at=datetime.now(UTC))
    other = alert.model_copy(update={"model": "other"})
    assert platform_core.app.pipelines.on_alert(other, "opened") == []
    [run] = platform_core.app.pipelines.on_alert(alert, "opened")
    assert run.trigger == "alert" and "prediction_drift" in run.reason
    # the same report's other alerts (one per drifted column) are covered by that run
    burst = [alert.model_copy(update={"id": i, "kind": "drift", "subject": f"f{i}"})
             for i in range(2, 6)]
    assert [platform_core.app.pipelines.on_alert(a, "opened") for a in burst] == [[]] * 4
    done = c.wait(c.pipelines.get_run(run.id).job_id)
    assert done.result["run"] == run.id  # type: ignore[index]
    assert c.pipelines.get_run(run.id).registered
    assert [r.id for r in c.pipeline_runs("retrain_churn") if r.trigger == "alert"] == [run.id]
    # an alert opened after that run started is not covered: it starts a run of its own
    later = alert.model_copy(update={"id": 9, "opened_at": datetime.now(UTC)})
    [again] = platform_core.app.pipelines.on_alert(later, "opened")
    assert again.id != run.id
    c.wait(c.pipelines.get_run(again.id).job_id)


def test_the_cli_lists_runs_and_shows_them(registry_client: ferry.Client, repo: Path,
                                           served: str, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    import json

    from typer.testing import CliRunner

    import ferry.cli._common
    from ferry.cli import app

    _register(registry_client, repo, "broken")
    monkeypatch.setattr(ferry.cli._common, "make_client", lambda *a, **k: registry_client)
    cli = CliRunner()
    listed = cli.invoke(app, ["pipelines", "list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    assert "broken" in [p["name"] for p in json.loads(listed.stdout)]
    ran = cli.invoke(app, ["pipelines", "run", "broken"])
    assert ran.exit_code == 2 and "pipeline_failed" in ran.output and "validate" in ran.output
    runs = json.loads(cli.invoke(app, ["pipelines", "runs", "broken", "-o", "json"]).stdout)
    assert runs[0]["failed_step"] == "validate"
    shown = cli.invoke(app, ["pipelines", "show", runs[0]["id"]])
    assert shown.exit_code == 0 and "ValueError" in shown.output, shown.output
    assert cli.invoke(app, ["pipelines", "show", "broken"]).exit_code == 0
    bad = cli.invoke(app, ["pipelines", "run", "broken", "-p", "oops"])
    assert bad.exit_code == 2 and "key=value" in bad.output


def test_a_feature_view_is_materialized_on_its_schedule(registry_client: ferry.Client,
                                                        feature_repo: Path,
                                                        platform_core: Any) -> None:
    from ferry_contract import FeatureNotFound

    c = registry_client
    with pytest.raises(FeatureNotFound, match="no feature view 'nope'"):
        c.features.schedule("nope", "0 * * * *")
    view = c.feature_views()[0].name
    s = c.features.schedule(view, "0 * * * *", lookback_hours=48)
    assert s.next_run_at is not None and s.next_run_at.minute == 0 and s.last_run_at is None
    app = platform_core.app.pipelines
    assert app._materialize_due(s.updated_at) == []  # nothing due yet
    later = s.updated_at + timedelta(hours=1)
    [job_id] = app._materialize_due(later)
    assert app._materialize_due(later) == []  # each due time once
    done = c.wait(job_id)
    assert done.result == {"materialized": [view]} or view in str(done.result)
    assert done.request["views"] == [view]
    [listed] = [x for x in c.features.schedules() if x.view == view]
    assert listed.last_run_at is not None and listed.last_run_at <= later
    c.features.unschedule(view)
    assert all(x.view != view for x in c.features.schedules())


def test_the_demos_nightly_retraining_stops_at_the_gate(
        registry_client: ferry.Client, served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo`'s retraining part on a model of its own: the champion as the demo trains
    it, the demo's pinned evaluation set; the pipeline in examples/ retrains on 2,000 of
    tonight's rows from the same source, which fall short of the champion at the gate."""
    import io

    from rich.console import Console
    from sklearn.ensemble import HistGradientBoostingClassifier

    monkeypatch.syspath_prepend(str(EXAMPLES))
    import demo_pipelines
    from churn_data import make_churn

    c, name = registry_client, "demo-churn"
    train = make_churn(4000, seed=7)
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(
        train.drop(columns=["churned"]), train["churned"])
    v1 = c.register(model, name=name, training_data=train, target="churned").version
    c.create_eval_set(name, make_churn(3000, seed=12), label="churned",
                      slice_column="contract_type", pin=True)
    assert c.evaluate(name, v1).passed
    c.set_champion(name, v1)
    import re

    from ferry_contract import PipelineNotFound

    out = io.StringIO()
    assert demo_pipelines.run(c, Console(file=out, width=160), model=name), out.getvalue()
    with pytest.raises(PipelineNotFound):  # unregistered: a later demo's alerts start nothing
        c.pipelines.get("churn-nightly")
    run_id = re.search(r"churn-nightly run ([0-9a-f]+)", out.getvalue()).group(1)  # type: ignore[union-attr]
    run = c.pipelines.get_run(run_id)  # its runs stay recorded
    assert run.state is RunState.succeeded and run.trigger is Trigger.manual
    assert [s.name for s in run.steps] == ["tonight_data", "train", "register", "evaluate"]
    assert run.steps[0].rows == 2000 and run.data_digest
    assert run.result["outcome"] == "failed gate", run.result  # type: ignore[index]
    assert "vs_champion" in run.result["failed_checks"]  # type: ignore[index]
    assert run.result["gain"] < 0 and run.canary is None  # type: ignore[index]
    assert run.registered == [f"{name}/{v1 + 1}"]
    [evaluation] = run.evaluations  # the one registration started, followed, not run twice
    assert f"{name}/{v1 + 1}: failed the gate" in evaluation
    assert c.model(name).aliases["champion"] == v1
    text = out.getvalue()
    assert run.id in text and str(run.mlflow_run_id) in text and "failed gate" in text
