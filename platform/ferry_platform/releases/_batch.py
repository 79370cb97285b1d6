"""Batch scoring: a whole table through the exact release a deployment serves.

:meth:`BatchScoring.plan` resolves the release and checks the input's columns against
what the model takes (refusing before any scoring starts, naming each column);
:meth:`BatchScoring.run` hands the plan to the serving capability's Ray Data pipeline,
which loads the same Bento a Serve replica loads, in Ray workers, never here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ferry_contract import (
    BatchScoreCreate,
    ColumnSpec,
    IncompatibleRelease,
    InvalidInput,
    InvalidRequest,
    NotFound,
)
from ferry_platform.core import FeatureBinding, ReleaseManifest, request_columns
from ferry_platform.registry import ModelRegistry
from ferry_platform.releases._roots import DataRoots
from ferry_platform.releases._service import FeaturePort
from ferry_platform.store import StateStore

ENTITY_TIMESTAMP = "event_timestamp"
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class BatchPlan:
    """A checked batch run: what scores, what it reads, what it writes."""

    request: BatchScoreCreate
    manifest: ReleaseManifest
    spec: Any  # serving.BatchSpec
    columns: list[str]  # the input columns read

    def lineage(self) -> dict[str, Any]:
        return {"release_id": self.manifest.release_id, "model": self.manifest.model,
                "model_version": self.manifest.version,
                "as_of": self.spec.as_of.isoformat() if self.spec.as_of else None,
                "source": self.request.source, "source_digest": self.spec.source.digest,
                "source_files": len(self.spec.source.files),
                "feature_refs": (self.spec.features or {}).get("refs", []),
                "bento_tag": self.manifest.bento_tag}


class BatchScoring:
    def __init__(self, registry: ModelRegistry, store: StateStore,
                 features: FeaturePort | None, *, bentoml_home: str,
                 env: Callable[[], dict[str, str]] = dict, actors: int = 2,
                 actor_cpus: float = 0.5, batch_size: int = 50_000,
                 roots: DataRoots,
                 joiner: str = "ferry_platform.features:OfflineJoin") -> None:
        self._registry = registry
        self._store = store
        self._features = features
        self._bentoml_home = bentoml_home
        self._env = env
        self._actors = actors
        self._actor_cpus = actor_cpus
        self._batch_size = batch_size
        self._joiner = joiner
        self._roots = roots

    def release_of(self, req: BatchScoreCreate) -> ReleaseManifest:
        """The deployment's serving release, or the named one if the deployment runs it."""
        record = self._store.get_deployment(req.deployment)
        if record is None:
            known = [r.name for r in self._store.list_deployments()]
            raise NotFound(f"no deployment named {req.deployment!r}; deployments: "
                           f"{known or 'none'}. Batch scoring uses a deployment's release.",
                           details={"deployment": req.deployment})
        release_id = req.release_id or record.release_id
        running = {record.release_id, record.previous_release_id,
                   (record.rollout or {}).get("candidate")} - {None}
        if release_id not in running:
            raise NotFound(f"deployment {req.deployment!r} does not run release "
                           f"{release_id!r}; it runs {sorted(r for r in running if r)}",
                           details={"deployment": req.deployment, "release_id": release_id})
        manifest = self._store.get_release(release_id)
        if manifest is None:  # pragma: no cover - releases are never deleted
            raise NotFound(f"release {release_id!r} is missing")
        return manifest

    def roots(self, team: str) -> list[str]:
        """Where ``team``'s batch jobs may read and write."""
        return self._roots.of(team)

    def plan(self, req: BatchScoreCreate, team: str) -> BatchPlan:
        """Everything refusable, before anything runs: input and output inside the team's
        data roots, the release, its features, the input's columns and types, and an
        output directory that holds nothing yet. The plan's request names the locations
        as resolved (what is read and written is what was checked)."""
        from ferry_platform.serving import BatchSpec, check_dest, inspect_source, type_problems

        self._roots.prepare(team)
        req = req.model_copy(update={"source": self._roots.confine(team, req.source, "source"),
                                     "dest": self._roots.confine(team, req.dest, "dest")})
        manifest = self.release_of(req)
        version = self._registry.get_version(manifest.model, manifest.version)
        features = self._feature_spec(version.name, version.version, version.feature_refs)
        binding = FeatureBinding(fetcher="", config={}, refs=features["refs"],
                                 entity_keys=features["entity_keys"]) if features else None
        wanted = request_columns(manifest.signature, binding)
        source = inspect_source(
            req.source, check=lambda files: self._roots.check_files(team, files, "source"))
        self._check_columns(req, source.columns, wanted, bool(features), manifest)
        problems = type_problems([c for c in manifest.signature if c.name in source.types],
                                 source.types)
        if problems:
            raise InvalidInput(f"the batch input does not match {manifest.model} "
                               f"v{manifest.version}: {'; '.join(problems)}. Nothing was "
                               "scored.", details={"problems": problems})
        if req.dest.rstrip("/") == req.source.rstrip("/"):
            raise InvalidRequest(f"dest {req.dest!r} is the source; write scores elsewhere")
        check_dest(req.dest)
        spec = BatchSpec(
            release={"manifest": manifest.model_dump(mode="json"),
                     "bentoml_home": self._bentoml_home},
            source=source, dest=req.dest,
            as_of=req.as_of.astimezone(UTC) if req.as_of else None, keep=list(req.keep),
            features=features, actors=self._actors, num_cpus=self._actor_cpus,
            batch_size=self._batch_size)
        return BatchPlan(req, manifest, spec, source.columns)

    def run(self, plan: BatchPlan, progress: Progress | None = None) -> dict[str, Any]:
        from ferry_platform.serving import lineage_file, run_batch

        started = datetime.now(UTC)
        summary = run_batch(plan.spec, progress, self._env())
        lineage = {**plan.lineage(), **summary, "started_at": started.isoformat(),
                   "finished_at": datetime.now(UTC).isoformat(), "dest": plan.request.dest}
        lineage_file(plan.request.dest, lineage)
        return lineage

    # -- checks ---------------------------------------------------------------------------
    def _feature_spec(self, model: str, version: int, refs: list[str]) -> dict[str, Any] | None:
        if not refs:
            return None
        if self._features is None:
            raise IncompatibleRelease(f"{model} v{version} was trained on features {refs} but "
                                      "this platform has no feature store configured.")
        config = self._features.online_config()
        return {"joiner": self._joiner, "config": config, "refs": list(refs),
                "entity_keys": self._features.join_key_types(refs)}

    @staticmethod
    def _check_columns(req: BatchScoreCreate, have: list[str], wanted: list[ColumnSpec],
                       feature_backed: bool, manifest: ReleaseManifest) -> None:
        names = {c.name for c in wanted}
        allowed = names | set(req.keep)
        timestamp_ok = feature_backed and req.as_of is None
        if feature_backed and req.as_of is None and ENTITY_TIMESTAMP not in have:
            raise InvalidRequest(
                f"{manifest.model} v{manifest.version} joins features point-in-time: give "
                f"as_of (e.g. as_of='2026-12-01'), or an {ENTITY_TIMESTAMP!r} column per row",
                details={"columns": have})
        if timestamp_ok:
            allowed.add(ENTITY_TIMESTAMP)
        missing = [c.name for c in wanted if c.name not in have]
        unknown = [c for c in have if c not in allowed]
        bad_keep = [c for c in req.keep if c not in have]
        if not (missing or unknown or bad_keep):
            return
        what = []
        if missing:
            what.append(f"missing column(s) {missing} the model needs")
        if unknown:
            what.append(f"column(s) {unknown} the model does not take (drop them, or carry "
                        "them to the output with keep=[...])")
        if bad_keep:
            what.append(f"keep names column(s) {bad_keep} the input does not have")
        raise InvalidInput(
            f"the batch input {req.source!r} does not fit {manifest.model} v{manifest.version} "
            f"({manifest.release_id}): {'; '.join(what)}. It takes {sorted(names)}. Nothing "
            "was scored.",
            details={"missing": missing, "unexpected": unknown, "bad_keep": bad_keep,
                     "expected": [c.model_dump() for c in wanted]})
