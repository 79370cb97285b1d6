"""The retraining loop on a real local Ray Serve: a model serves, its traffic shifts (a
hidden generator's incomes x2.5, churn now rising with income), monitoring opens a drift
alert, the alert starts the pipeline listening to it, which retrains on the data as it is
now, registers, evaluates against the champion and the baseline on the team's freshly
labelled evaluation set, and starts a canary — never a promotion. Steps run as Ray tasks
(prefect-ray) on the session's Ray."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _synth import churn, churn_drifted

from ferry_contract import RunState, Trigger

pytestmark = pytest.mark.ray

NAME = "e2e-retrain"
FEATURES = ["tenure", "monthly", "income", "tickets"]
REPO = Path(__file__).parent.parent / "pipelines_repo"


@pytest.fixture(scope="module")
def served(running_platform: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The control plane on a loopback port (the run's process talks back over HTTP),
    steps as Ray tasks; the team's pipeline repository with the hidden generator."""
    import uvicorn
    from _services import free_port

    from ferry_server import create_app

    app = create_app(platform_obj=running_platform, start_runtime=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="pipelines-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    settings = running_platform.settings
    before = settings.public_url
    settings.public_url = f"http://127.0.0.1:{server.config.port}"
    root = tmp_path_factory.mktemp("pipelines-e2e-repo")
    shutil.copytree(REPO / "churn_pipelines", root / "churn_pipelines")
    shutil.copy(Path(__file__).parent.parent / "_synth.py", root / "synth_gen.py")
    yield root
    settings.public_url = before
    server.should_exit = True
    thread.join(15)


def _fit(frame: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        frame[FEATURES], frame["churned"])


def test_drift_alert_retrains_and_ends_in_a_canary(client: Any, served: Path,
                                                   admin_token: str) -> None:
    before = churn(3000, seed=1)[FEATURES + ["churned"]]
    v1 = client.register(_fit(before), name=NAME, training_data=before, target="churned")
    client.create_eval_set(NAME, churn(1500, seed=99)[FEATURES + ["churned"]],
                           label="churned", pin=True)
    client.set_champion(NAME, v1.version)
    dep = client.deploy(NAME, version=v1.version, replicas=1)
    try:
        client.register_pipeline("churn_pipelines.retrain:retrain_after_drift",
                                 name="retrain_after_drift", path=str(served),
                                 on_alert=[f"{NAME}:drift"], timeout_s=900)
        # the team's newest labelled outcomes become the evaluation set its admin pins
        client.create_eval_set(NAME, churn_drifted(1500, seed=98)[FEATURES + ["churned"]],
                               label="churned", pin=True)
        # production shifts: incomes x2.5
        shifted = churn_drifted(300, seed=5)[FEATURES]
        with httpx.Client(timeout=30, headers={"authorization": f"Bearer {admin_token}"}) as h:
            for r in shifted.to_dict("records"):
                row = {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                resp = h.post(f"{dep.info.endpoints.rest}/predict", json={"inputs": [row]})
                assert resp.status_code == 200, resp.text
        deadline = time.monotonic() + 60  # the replicas flush their prediction log each 1 s
        while True:
            report = client.monitoring(NAME, window="15m")
            try:
                if report.release().rows >= 300:
                    break
            except LookupError:  # nothing of this window logged yet
                pass
            assert time.monotonic() < deadline, "the traffic was never logged"
            time.sleep(1)
        assert "income" in report.drifted()
        deadline = time.monotonic() + 60
        while not client.pipeline_runs("retrain_after_drift"):
            assert time.monotonic() < deadline, "the drift alert started no run"
            time.sleep(0.5)
        [run] = client.pipeline_runs("retrain_after_drift")
        assert run.trigger is Trigger.alert and NAME in run.reason
        client.wait(run.job_id, timeout_s=900)
        run = client.pipelines.get_run(run.id)
        assert run.state is RunState.succeeded, run.error
        assert run.result["gate"] == "canary", run.result  # type: ignore[index]
        assert run.result["gain"] > 0.01  # type: ignore[index]
        v2 = run.result["version"]  # type: ignore[index]
        assert run.registered == [f"{NAME}/{v2}"] and run.canary == NAME
        status = client.status(NAME)
        assert status.rollout is not None and status.rollout.candidate.version == v2
        assert client.model(NAME).aliases["champion"] == v1.version  # a canary, no promotion
    finally:
        dep.close()
        client.undeploy(NAME)
