"""A Serve replica (a release or a router) imports what it serves and nothing of the
control plane: no database layer, no store, no evaluation, no registry, no settings.

The probe does what Ray Serve does in a replica process: it imports the application
builders by the very import paths the config builders write into Serve's config, calls them
with the arguments that config carries (which binds the deployment classes), and records
``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _fakes import FakePackager, FakeRegistry

from ferry_contract import Protocol
from ferry_platform.serving import Route, ServingConfig
from ferry_platform.serving import _appconfig as A  # noqa: N812

PROBE = """
import importlib, json, sys
apps = json.loads(sys.argv[1])
for app in apps:
    module, _, attr = app["import_path"].partition(":")
    getattr(importlib.import_module(module), attr)(app["args"])  # as Serve builds it
print(json.dumps(sorted(sys.modules)))
"""

CONTROL_PLANE = ("sqlalchemy", "alembic", "psycopg", "pydantic_settings", "ferry_server",
                 "mlflow.server", "mlflow.store", "evidently", "feast.repo_operations",
                 "ferry_platform._settings", "ferry_platform._platform", "ferry_platform.store",
                 "ferry_platform.evaluation", "ferry_platform.registry",
                 "ferry_platform.releases", "ferry_platform.application",
                 "ferry_platform.packaging", "ferry_platform.sandbox", "ferry_platform.jobs",
                 "ferry_platform.monitoring", "ferry_platform.serving._ray",
                 "ferry_platform.serving._head", "ferry_platform.serving._appconfig")


def loaded(code: str, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=300, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_a_replica_loads_nothing_of_the_control_plane(tmp_path: Path) -> None:
    config = ServingConfig(home=tmp_path, bentoml_home=str(tmp_path / "bentoml"))
    manifest = FakePackager().build(FakeRegistry({"m": [1]}).get_version("m", 1))
    route = Route(manifest, 100, 1, Protocol.auto)
    user = A.router_user_config([route], "m", 1)
    apps = [A.release_config(config, "m", route), A.router_config(config, "m", user, route)]
    modules = loaded(PROBE, json.dumps(apps))
    # the probe saw the replica's and the router's code
    assert {"ferry_platform.serving._replica", "ferry_platform.serving._router"} <= set(modules)
    leaked = [m for m in modules if m.startswith(CONTROL_PLANE)]
    assert leaked == []


def test_the_control_plane_still_finds_the_runtime_through_the_package() -> None:
    modules = loaded("import json, sys\nfrom ferry_platform.serving import RayServeRuntime\n"
                     "print(json.dumps(sorted(sys.modules)))")
    assert "ferry_platform.serving._ray" in modules
