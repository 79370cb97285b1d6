"""A Serve replica (a release or a router) imports what it serves and nothing of the
control plane: no database layer, no store, no evaluation, no registry, no settings."""

from __future__ import annotations

import json
import subprocess
import sys

# What Ray Serve imports in a replica process: the application builders named in the
# config (RELEASE_APP, ROUTER_APP) and the deployment classes they bind.
REPLICA = """
import json, sys
from ferry_platform.serving._apps import release_app, router_app
from ferry_platform.serving._replica import FerryReplica
from ferry_platform.serving._router import FerryRouter
print(json.dumps(sorted(sys.modules)))
"""

CONTROL_PLANE = ("sqlalchemy", "alembic", "psycopg", "pydantic_settings", "ferry_server",
                 "ferry_platform._settings", "ferry_platform._platform", "ferry_platform.store",
                 "ferry_platform.evaluation", "ferry_platform.registry",
                 "ferry_platform.releases", "ferry_platform.application",
                 "ferry_platform.packaging", "ferry_platform.sandbox", "ferry_platform.jobs",
                 "ferry_platform.serving._ray", "ferry_platform.serving._head")


def loaded(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_a_replica_loads_nothing_of_the_control_plane() -> None:
    modules = loaded(REPLICA)
    assert "ferry_platform.serving._replica" in modules  # the probe saw the replica's code
    leaked = [m for m in modules if m.startswith(CONTROL_PLANE)]
    assert leaked == []


def test_the_control_plane_still_finds_the_runtime_through_the_package() -> None:
    modules = loaded("import json, sys\nfrom ferry_platform.serving import RayServeRuntime\n"
                     "print(json.dumps(sorted(sys.modules)))")
    assert "ferry_platform.serving._ray" in modules
