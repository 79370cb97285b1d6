"""Session-wide fixtures: one Ferry platform (real MLflow on SQLite, real BentoML store, one
local Ray + Serve) per test run, and an SDK client talking to the real control-plane app
in-process. Ray starts once, lazily, only if a test needs it: as a detached head (its own
process, as `ferry up` runs it) that the platform attaches to, stopped at the end of the run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`), everything that needs
    the run's Ray head, or starts a Ray cluster of its own, runs on one worker, so the run
    still holds one Ray session; tests that share one Redis database run on one worker too.
    The rest spreads over both."""
    for item in items:
        if (item.get_closest_marker("ray") or item.get_closest_marker("cluster")
                or "ray_head" in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif "redis_db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("redis"))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse to run a split Ray group: two Ray sessions would fight for the test ports."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist workers only
        return
    lost = [i.nodeid for i in session.items
            if i.get_closest_marker("xdist_group") and "@" not in i.nodeid.rsplit("]", 1)[-1]]
    if lost:
        raise pytest.UsageError(f"pytest-xdist ignored the xdist_group of {lost[0]} (and "
                                f"{len(lost) - 1} more): see pytest-dev/pytest-xdist#1386")


def _test_ports() -> dict[str, str]:
    """Serve's ports for this run: free ones, chosen once per run (kept in the environment,
    so every module and every process of the run agrees), so two runs on one machine (two
    checkouts) never meet on a port."""
    import json

    from _services import free_port

    saved = os.environ.get("FERRY_TEST_SERVE_PORTS")
    if saved:
        return dict(json.loads(saved))
    ports = {k: str(free_port()) for k in ("FERRY_SERVE_HTTP_PORT", "FERRY_SERVE_GRPC_PORT",
                                             "FERRY_SERVE_HAPROXY_STATS_PORT",
                                             "FERRY_SERVE_HAPROXY_METRICS_PORT")}
    os.environ["FERRY_TEST_SERVE_PORTS"] = json.dumps(ports)
    return ports


TEST_PORTS = _test_ports()


@pytest.fixture(scope="session")
def ferry_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ferry-home")


@pytest.fixture(scope="session")
def settings(ferry_home: Path):  # type: ignore[no-untyped-def]
    from ferry_platform import Settings

    os.environ.update(TEST_PORTS)
    # Evaluations run in a child process here (no Ray needed for registry-only tests);
    # the Ray sandbox, the platform's default, is tested on the session's Ray.
    # Scheduled monitoring is off (tests ask for reports); canary analysis still runs.
    return Settings(home=ferry_home, ray_num_cpus=2, replica_num_cpus=0.25,
                    deploy_timeout_s=240, evaluation_sandbox="process",
                    monitor_interval_s=0)


@pytest.fixture(scope="session")
def platform_core(settings):  # type: ignore[no-untyped-def]
    """The platform's capabilities, without the serving runtime started."""
    from ferry_platform import Platform

    return Platform.from_settings(settings)


@pytest.fixture(scope="session")
def ray_head(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The run's one Ray head (2 CPUs, no dashboard), started detached as the local platform
    starts it; its address, for control-plane processes that share it (FERRY_RAY_ADDRESS)."""
    from _proc import kill_group_when_gone

    from ferry_platform.serving import LocalRayHead, serve_env

    head = LocalRayHead(settings.home)
    address = head.ensure(settings.ray_num_cpus, serve_env(settings.serving_config()))
    record = head.record()
    assert record is not None
    watchdog = kill_group_when_gone(os.getpid(), record.session)
    try:
        yield address
    finally:
        head.stop()
        watchdog.kill()
        watchdog.wait(10)


@pytest.fixture(scope="session")
def running_platform(platform_core, ray_head) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """The same platform with Serve started on the run's Ray head (once per session); it
    attaches to the head as a restarted control plane does."""
    platform_core.start()
    yield platform_core
    platform_core.stop()


def _client_for(platform_obj):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    import ferry
    from ferry_server import create_app

    app = create_app(platform_obj=platform_obj, start_runtime=False)
    http = TestClient(app, base_url="http://ferry.test", raise_server_exceptions=False)
    token = (platform_obj.settings.home / "admin-token").read_text().strip()
    return ferry.Client("http://ferry.test", http_client=http, token=token)


@pytest.fixture(scope="session")
def admin_token(platform_core) -> str:  # type: ignore[no-untyped-def]
    """The session platform's admin token (the data plane wants one on every request)."""
    return str((platform_core.settings.home / "admin-token").read_text().strip())


@pytest.fixture(scope="session")
def auth(admin_token: str) -> dict[str, str]:
    """Headers of a raw HTTP client predicting as the admin."""
    return {"authorization": f"Bearer {admin_token}"}


@pytest.fixture(scope="session")
def registry_client(platform_core):  # type: ignore[no-untyped-def]
    """SDK client on the real app, for tests that do not deploy."""
    return _client_for(platform_core)


@pytest.fixture(scope="session")
def client(running_platform):  # type: ignore[no-untyped-def]
    """SDK client on the real app with the serving runtime running."""
    return _client_for(running_platform)


@pytest.fixture(scope="session")
def as_user(running_platform):  # type: ignore[no-untyped-def]
    """``as_user(token)``: an SDK client of the session platform acting with ``token``."""
    from fastapi.testclient import TestClient

    import ferry
    from ferry_server import create_app

    app = create_app(platform_obj=running_platform, start_runtime=False)

    def make(token: str) -> ferry.Client:
        http = TestClient(app, base_url="http://ferry.test", raise_server_exceptions=False)
        return ferry.Client("http://ferry.test", http_client=http, token=token)

    return make


@pytest.fixture(scope="session")
def feature_repo(settings, platform_core):  # type: ignore[no-untyped-def]
    """The session platform's feature repository: the sample definitions with recent
    synthetic data, applied and materialized."""
    import shutil
    from datetime import timedelta

    from _features_data import RECENT_T0, ROOT, snapshots

    repo = Path(settings.feature_repo)
    (repo / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "features" / "customers.py", repo / "customers.py")
    data = snapshots(t0=RECENT_T0)
    data.to_parquet(repo / "data" / "customer_stats.parquet", index=False)
    platform_core.features.apply()
    end = data["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
    platform_core.features.materialize(RECENT_T0 - timedelta(days=1), end)
    return repo
