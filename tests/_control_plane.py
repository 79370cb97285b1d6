"""A control plane over a real database with fakes for MLflow/BentoML/Ray/Feast (which
implement the real interfaces): for API tests of the control plane itself.

Evaluation is real: the models of ``alpha-model`` are scikit-learn models with MLflow
artifacts, answered through the real sandbox target (in-process: InlineSandbox) and gated
on a pinned evaluation set from a hidden generator. v1 and v2 are honest fits; v3, which
a test may register, learned its labels backwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fakes import FakeEvaluationStore, FakePackager, FakeRegistry, FakeRuntime, InlineSandbox
from _services import postgres_available, postgres_database
from _synth import signal
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import ferry
from ferry_contract import FeatureNotFound
from ferry_platform import Platform, Settings
from ferry_platform.access import AccessService
from ferry_platform.catalog import CatalogRegistry
from ferry_platform.evaluation import EvaluationService
from ferry_platform.jobs import JobRunner
from ferry_platform.releases import Defaults, ReleaseService
from ferry_platform.store import Database, SqlCatalog, SqlIdentityStore, SqlJobStore, SqlStateStore
from ferry_server import create_app


class FakeFeatures:
    """One feature view, ``stats``, owned by team alpha (its Feast tag ``team``), and
    ``shared``, owned by no team; nothing to apply, materialize or join."""

    fetcher = "x:y"

    def apply(self) -> list[Any]:
        return []

    def views(self) -> list[Any]:
        from ferry_platform.features import FeatureViewInfo

        return [FeatureViewInfo("shared", 0, ["id"], []),
                FeatureViewInfo("stats", 0, ["id"], [], team="alpha")]

    def plan(self) -> list[Any]:
        return []

    def freshness(self) -> list[Any]:
        return []

    def materialize(self, start: Any, end: Any, views: Any, progress: Any = None) -> list[str]:
        return []

    def training_set(self, features: list[str], entities: Any) -> Any:
        raise FeatureNotFound(f"no feature view for {features[:3]} (this platform has none)")


def _fit(seed: int, backwards: bool = False) -> Any:
    data = signal(2000, seed)
    return LogisticRegression().fit(data[["x"]], 1 - data["y"] if backwards else data["y"])


def alpha_v1() -> Any:
    return _fit(1)


def alpha_v2() -> Any:
    return _fit(2)


def alpha_v3() -> Any:
    return _fit(3, backwards=True)


MODELS = {("alpha-model", 1): alpha_v1, ("alpha-model", 2): alpha_v2,
          ("alpha-model", 3): alpha_v3, ("beta-model", 1): alpha_v1,
          ("beta-model", 2): alpha_v2}
EVAL_ROWS = signal(400, seed=99)
"""alpha-model's evaluation set (pinned in its gate by its team's admin)."""


class Env:
    """One control plane over one database, with users of two teams."""

    def __init__(self, url: str, home: Path, features: Any = None,
                 signatures: dict[int, Any] | None = None, orchestrator: Any = None,
                 **settings: Any) -> None:
        db = Database(url)
        db.upgrade()
        self.runtime = FakeRuntime()
        store, jobs, identity = SqlStateStore(db), SqlJobStore(db), SqlIdentityStore(db)
        self.registry = FakeRegistry({"alpha-model": [1, 2], "beta-model": [1, 2]},
                                     models=MODELS, signatures=signatures)
        registry = CatalogRegistry(self.registry, SqlCatalog(db))
        self.evaluation_store = FakeEvaluationStore(registry.get_model)
        self.sandbox = InlineSandbox()
        releases = ReleaseService(registry, FakePackager(), self.runtime, store,
                                  Defaults(replicas=1))
        self.platform = Platform(Settings(home=home, **settings), registry,  # type: ignore[arg-type]
                                 FakePackager(), self.runtime, store, releases,  # type: ignore[arg-type]
                                 features or FakeFeatures(), db, jobs,
                                 JobRunner(jobs), identity, AccessService(identity),
                                 EvaluationService(self.evaluation_store, registry,
                                                   sandbox=self.sandbox),
                                 orchestrator=orchestrator)
        self.app = create_app(platform_obj=self.platform, start_runtime=False)
        self.admin = (home / "admin-token").read_text().strip()
        self.tokens: dict[str, str] = {"admin": self.admin}
        admin = self.client(self.admin)
        for team in ("alpha", "beta"):
            admin.create_team(team)
        for user, team, role in [("viewer-a", "alpha", "viewer"), ("deployer-a", "alpha",
                                  "deployer"), ("admin-a", "alpha", "admin"),
                                 ("deployer-b", "beta", "deployer"), ("outsider", None, None),
                                 ("bystander", None, None)]:
            admin.create_user(user)
            if team:
                admin.set_member(team, user, role)  # type: ignore[arg-type]
            self.tokens[user] = admin.create_token(user=user).token
        self.identity = identity
        # models owned by their teams
        self.http(self.tokens["deployer-a"]).put("/v1/models/alpha-model", json={"team": "alpha"})
        self.http(self.tokens["deployer-b"]).put("/v1/models/beta-model", json={"team": "beta"})
        # alpha-model's gate: a deployer uploads the evaluation set, the team admin pins it
        self.client(self.tokens["deployer-a"]).create_eval_set("alpha-model", EVAL_ROWS,
                                                               label="y")
        self.client(self.tokens["admin-a"]).set_gate("alpha-model", eval_set_version=1)

    def http(self, token: str | None) -> TestClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return TestClient(self.app, base_url="http://ferry.test", headers=headers,
                          raise_server_exceptions=False)

    def client(self, token: str) -> ferry.Client:
        return ferry.Client("http://ferry.test", http_client=self.http(None), token=token)

    def deploy(self, user: str, model: str = "alpha-model", name: str | None = None) -> Any:
        c = self.client(self.tokens[user])
        return c.deploy(model, version=1, name=name)


def env_on(database: str, tmp_path_factory: pytest.TempPathFactory, prefix: str) -> Iterator[Env]:
    """A control plane on ``database`` ("sqlite", or "postgres": a throwaway database on the
    local PostgreSQL, skipped when none runs), for a module-scoped parametrized fixture."""
    home = tmp_path_factory.mktemp(f"{prefix}-{database}")
    if database == "sqlite":
        yield Env(f"sqlite:///{home / 'state.db'}", home)
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with postgres_database() as url:
        e = Env(url.replace("postgresql://", "postgresql+psycopg://"), home)
        yield e
        e.platform.jobs.shutdown()  # its heartbeat would renew leases in a dropped database
        e.platform.db.engine.dispose()
