"""Deploy, inspect and undeploy: the platform's main use case, written once.

A deploy is: resolve the exact model version -> build (or reuse) its immutable release ->
load it in isolation (preflight) -> roll it onto the runtime -> record it. Everything that
can be refused is refused before anything running is touched; if rolling out fails anyway,
the previous release of that name is put back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from typing import Protocol as TypingProtocol

from ferry_contract import (
    ColumnSpec,
    Conflict,
    ContractChange,
    DeploymentCreate,
    DeploymentNotFound,
    DeploymentPublic,
    FeatureNotFound,
    FerryError,
    IncompatibleRelease,
    InvalidRequest,
    ModelVersionPublic,
    NoPreviousRelease,
    NoRollout,
    Protocol,
    ReleaseFailed,
    RolloutCreate,
    RolloutInProgress,
    RolloutMode,
    RolloutPublic,
)
from ferry_platform.core import (
    FeatureBinding,
    ReleaseManifest,
    breaking_changes,
    request_columns,
)
from ferry_platform.packaging import Packager
from ferry_platform.registry import ModelRegistry
from ferry_platform.releases._phases import Phases, PhaseSink, Progress
from ferry_platform.releases._placements import Placement, placement_tags
from ferry_platform.serving import Phase, Route, RouterAccess, ServingRuntime, untimed
from ferry_platform.store import DeploymentRecord, StateStore

log = logging.getLogger("ferry.releases")



class FeaturePort(TypingProtocol):
    """What deploying a feature-backed model needs of the features capability."""

    fetcher: str

    def feature_types(self, refs: list[str]) -> dict[str, str]: ...

    def join_key_types(self, refs: list[str]) -> dict[str, str]: ...

    def servable(self, refs: list[str]) -> list[str]: ...

    def online_config(self) -> dict[str, Any]: ...


# Which model signature types can take a Feast dtype's values.
_COMPATIBLE = {
    "Int64": {"long", "integer", "double", "float"},
    "Int32": {"long", "integer", "double", "float"},
    "Float64": {"double", "float"},
    "Float32": {"double", "float"},
    "String": {"string"},
    "Bool": {"boolean"},
}


def feature_mismatches(signature: list[ColumnSpec], types: dict[str, str]) -> list[str]:
    """Every way a model's signature disagrees with the pinned features' types."""
    by_name = {c.name: c for c in signature}
    problems = []
    for feat, dtype in types.items():
        col = by_name.get(feat)
        if col is None:
            problems.append(f"pinned feature {feat!r} ({dtype}) is not an input of the model")
        elif col.type not in _COMPATIBLE.get(dtype, {col.type}):
            problems.append(f"feature {feat!r} is {dtype} in the feature store but the model "
                            f"expects {col.type}")
    return problems


def arm_of(record: DeploymentRecord, release_id: str) -> str:
    """The arm a release of ``record`` is: the serving release is ``stable`` (``a`` in an A/B
    test), a rollout's candidate ``canary``, ``b`` or ``shadow``."""
    rollout = record.rollout or {}
    mode = rollout.get("mode")
    if release_id == rollout.get("candidate") and release_id != record.release_id:
        return {"ab": "b", "shadow": "shadow"}.get(str(mode), "canary")
    return "a" if mode == "ab" and release_id == record.release_id else "stable"


@dataclass(frozen=True)
class Defaults:
    """What the platform chooses when the data scientist does not."""

    replicas: int = 2
    protocol: Protocol = Protocol.auto
    max_replicas: int = 16  # the most one release may ask for (FERRY_MAX_REPLICAS)
    autoscale_max_replicas: int = 4  # replicas="auto" without a maximum scales up to this
    keep_previous: bool = True  # the previous release stays up (no traffic): instant rollback


class ReleaseService:
    def __init__(
        self,
        registry: ModelRegistry,
        packager: Packager,
        runtime: ServingRuntime,
        store: StateStore,
        defaults: Defaults | None = None,
        features: FeaturePort | None = None,
        access: Callable[[DeploymentRecord], RouterAccess] | None = None,
    ) -> None:
        self._features = features
        # Who may predict on a deployment (its team's tokens); wired by the platform.
        self.access: Callable[[DeploymentRecord], RouterAccess] = access or (
            lambda _record: RouterAccess())
        self._registry = registry
        self._packager = packager
        self._runtime = runtime
        self._store = store
        self._defaults = defaults or Defaults()
        self._locks_guard = threading.Lock()
        self._busy: set[str] = set()
        # Called with each release built (or reused) for a deploy or a rollout, before it
        # takes traffic: the platform records the release's monitoring reference there.
        self.on_built: Callable[[ReleaseManifest], None] | None = None

    @contextmanager
    def _exclusive(self, name: str, action: str) -> Iterator[None]:
        with self._locks_guard:
            if name in self._busy:
                raise Conflict(
                    f"another change to deployment {name!r} is under way; "
                    f"wait for it to finish, then retry the {action}.",
                    details={"deployment": name},
                )
            self._busy.add(name)
        try:
            yield
        finally:
            with self._locks_guard:
                self._busy.discard(name)

    # -- use cases ----------------------------------------------------------------------
    def deploy(self, req: DeploymentCreate, progress: Progress | None = None,
               team: str | None = None, job_id: str | None = None,
               phases: PhaseSink | None = None) -> DeploymentPublic:
        """A plain upgrade: the new release starts beside the serving one and takes all
        traffic once healthy; the old one stays up without traffic for rollback.
        ``phases`` receives the timed phases as they start and end."""
        say = progress or (lambda msg, _pct: log.info(msg))
        name = req.name or req.model
        replicas, max_replicas = self.scaling(req)
        protocol = self._defaults.protocol if req.protocol is Protocol.auto else req.protocol
        with self._exclusive(name, "deploy"):
            previous = self._store.get_deployment(name)
            if previous is not None and previous.rollout:
                raise self.in_progress(previous)
            changes = self.contract_changes(name, req.model, req.version)
            if changes and not req.allow_contract_change:
                raise self.contract_refusal(name, req.model, req.version, changes, False)
            timed = Phases(say, phases)
            # A release that serves here already, on this protocol, was loaded and is healthy:
            # deploying it again needs no preflight (a redeploy takes seconds).
            serving = set(self._runtime.routes_of(name)) \
                if previous is not None and previous.protocol == protocol else set()
            manifest = self._prepare(req.model, req.version, protocol, timed, serving)
            prev_id = previous.release_id if previous else None
            if prev_id == manifest.release_id and previous is not None:
                prev_id = previous.previous_release_id
            owner = team or (previous.team if previous else None)
            # Anonymous prediction was allowed by an admin of the team owning the deployment;
            # once another team's model takes the name over, nobody of that team allowed it.
            record = DeploymentRecord(
                name=name, release_id=manifest.release_id, protocol=protocol,
                replicas=replicas, max_replicas=max_replicas, previous_release_id=prev_id,
                team=owner, job_id=job_id,
                anonymous_predict=bool(previous and previous.anonymous_predict
                                       and owner == previous.team))
            if previous is not None and self._unchanged(previous, record):
                # The same release, replicas, protocol and owner, and the runtime routes
                # exactly as recorded: nothing to start or switch (a redeploy in seconds).
                timed.note(f"switch: nothing to change, {name} serves {manifest.release_id} "
                           "already")
            else:
                scale = f"{replicas}-{max_replicas} replicas (autoscaled)" if max_replicas \
                    else f"{replicas} replica(s)"
                say(f"starting {manifest.release_id} on {scale} beside what serves", 65)
                self._apply(record, timed)
            record = self._put(record, "deploy")
            timed.done(f"{name} is serving {manifest.release_id}")
            return self._public(record, manifest)

    def scaling(self, req: DeploymentCreate) -> tuple[int, int | None]:
        """(replicas, max_replicas) a deploy asks for: a fixed count (max None, the
        default), or autoscaling bounds; InvalidRequest naming any value over the
        platform's limit (FERRY_MAX_REPLICAS)."""
        cap = self._defaults.max_replicas
        if req.autoscaled:
            low = req.min_replicas or 1
            high = req.max_replicas or max(low, min(cap, self._defaults.autoscale_max_replicas))
            asked = {"min_replicas": low, "max_replicas": high}
        else:
            low = req.replicas if isinstance(req.replicas, int) else self._defaults.replicas
            high = None
            asked = {"replicas": low}
        over = {k: v for k, v in asked.items() if v > cap}
        if over:
            named = ", ".join(f"{k}={v}" for k, v in over.items())
            raise InvalidRequest(
                f"{named} is above this platform's limit of {cap} replicas per release "
                f"(FERRY_MAX_REPLICAS); ask for at most {cap}",
                details={**over, "limit": cap})
        return low, high

    def _unchanged(self, previous: DeploymentRecord, record: DeploymentRecord) -> bool:
        """Whether the runtime serves ``record`` already, exactly as ``previous`` recorded
        it: same release, protocol, replicas, owner and access, no rollout, and running the
        routes both want and no other release."""
        same = (previous.release_id == record.release_id
                and previous.protocol == record.protocol
                and previous.replicas == record.replicas
                and previous.max_replicas == record.max_replicas and previous.team == record.team
                and previous.anonymous_predict == record.anonymous_predict
                and not previous.rollout and not record.rollout)
        if not same:
            return False
        wanted = self.desired_routes(record)
        return (wanted == self.desired_routes(previous)
                and self._runtime.routes_of(record.name) == wanted
                and self._runtime.releases_of(record.name) == set(wanted)
                and self._runtime.state(record.name).status == "running")

    # -- the request contract -------------------------------------------------------------
    def _request_columns(self, version: ModelVersionPublic) -> list[ColumnSpec] | None:
        """The columns a client of ``version`` sends (None if its features are unknown)."""
        binding = None
        if version.feature_refs:
            if self._features is None:
                return None
            try:
                keys = self._features.join_key_types(version.feature_refs)
            except FeatureNotFound:
                return None
            binding = FeatureBinding(fetcher="", config={}, refs=version.feature_refs,
                                     entity_keys=keys)
        return request_columns(version.signature, binding)

    def contract_changes(self, name: str, model: str, version: int) -> list[str]:
        """How serving ``model`` v``version`` on ``name`` would break the clients of what
        it serves now (empty: compatible, or nothing served yet)."""
        record = self._store.get_deployment(name)
        current = self._store.get_release(record.release_id) if record else None
        if current is None:
            return []
        old_version = self._registry.get_version(current.model, current.version)
        new_version = self._registry.get_version(model, version)
        old, new = self._request_columns(old_version), self._request_columns(new_version)
        if old is None or new is None:
            return []
        changes = breaking_changes(old, new)
        if changes and bool(old_version.feature_refs) != bool(new_version.feature_refs):
            changes.insert(0, "requests change from the model's inputs to entity keys"
                           if new_version.feature_refs else
                           "requests change from entity keys to the model's inputs")
        return changes

    @staticmethod
    def contract_refusal(name: str, model: str, version: int, changes: list[str],
                         rollout: bool) -> ContractChange:
        how = ("a canary, A/B or shadow rollout cannot serve clients of both shapes: deploy "
               "it under another name, or replace the release with deploy(..., "
               "allow_contract_change=True) once clients are ready" if rollout else
               "every existing client would start failing. Deploy it under another name, or "
               "replace the release on purpose with allow_contract_change=True (`ferry deploy "
               "--breaking`); that is audited")
        return ContractChange(
            f"{model} v{version} changes what clients of {name!r} must send: "
            f"{'; '.join(changes)}. {how}.",
            details={"deployment": name, "model": model, "version": version,
                     "changes": changes})

    def _prepare(self, model: str, version: int, protocol: Protocol, phase: Phases,
                 serving: set[str] | frozenset[str] = frozenset()) -> ReleaseManifest:
        """Resolve, build (or reuse) and preflight a release: everything refusable first.
        A release in ``serving`` (running healthy on the same protocol) is not preflighted
        again."""
        with phase("resolve", f"resolving {model} v{version} in the registry", 5):
            found = self._registry.get_version(model, version)
            binding = self._feature_binding(found)
        with phase("build", f"building release of {model} v{version}", 15):
            manifest = self._packager.build(found)
            self._store.save_release(manifest)
            if self.on_built is not None:
                self.on_built(manifest)
        if manifest.release_id in serving:
            phase.note(f"preflight: skipped, {manifest.release_id} serves here already")
            return manifest
        with phase("preflight", f"loading release {manifest.release_id} in isolation", 40):
            self._runtime.preflight(manifest, protocol, binding)
        return manifest

    def _routes(self, record: DeploymentRecord) -> tuple[list[Route], str | None]:
        """What the runtime must run for ``record``: the stable release, a candidate if a
        rollout is under way, and (no traffic) the previous release for instant rollback."""
        rollout = record.rollout or {}
        shadow = rollout.get("candidate") if rollout.get("mode") == RolloutMode.shadow.value \
            else None
        running = self._runtime.routes_of(record.name)
        routes = []
        for release_id, w in self.desired_routes(record).items():
            manifest = self._store.get_release(release_id)
            if manifest is None:  # pragma: no cover - releases are never deleted
                continue
            # Releases already running keep what they were started with; only a release
            # about to start is checked against the registry and the feature store.
            binding = None if release_id in running else self._feature_binding(
                self._registry.get_version(manifest.model, manifest.version))
            routes.append(Route(manifest, w, record.replicas, record.protocol, binding,
                                release_id == shadow, arm_of(record, release_id),
                                max_replicas=record.max_replicas))
        return routes, rollout.get("sticky_key")

    def _apply(self, record: DeploymentRecord, phase: Phase = untimed) -> None:
        """Make the runtime serve ``record``; if that fails part-way, put the recorded
        state back (records are written after the runtime changed, so the stored one is
        the state before; the runtime never routes to a release that is not healthy)."""
        before = self._store.get_deployment(record.name)
        routes, sticky = self._routes(record)
        try:
            self._runtime.apply(record.name, routes, sticky, lambda: self.access(record),
                                phase)
        except FerryError as e:
            if before is None or (self.desired_routes(before) == self.desired_routes(record)
                                  and before.rollout == record.rollout):
                raise
            log.warning("%s: restoring the recorded routes after: %s", record.name, e)
            try:
                old, old_sticky = self._routes(before)
                self._runtime.apply(before.name, old, old_sticky, lambda: self.access(before))
            except FerryError as again:
                raise ReleaseFailed(f"{e.message} Restoring the previous routes also failed: "
                                    f"{again.message}") from again
            raise

    # -- rollouts -----------------------------------------------------------------------
    @staticmethod
    def in_progress(record: DeploymentRecord) -> RolloutInProgress:
        r = record.rollout or {}
        return RolloutInProgress(
            f"a {r.get('mode')} rollout of {r.get('candidate')} on {record.name!r} is under way "
            f"({r.get('weight')}%); promote, abort or roll it back first.",
            details={"deployment": record.name, "rollout": r})

    def _current(self, name: str) -> DeploymentRecord:
        record = self._store.get_deployment(name)
        if record is None:
            raise DeploymentNotFound(self._unknown(name))
        return record

    def no_rollout(self, record: DeploymentRecord, action: str) -> NoRollout:
        return NoRollout(
            f"{record.name!r} has no rollout under way to {action}; it serves "
            f"{record.release_id}. Start one with: ferry rollout {record.name} --version N "
            "--canary 10", details={"deployment": record.name})

    def rollout(self, name: str, req: RolloutCreate, progress: Progress | None = None,
                job_id: str | None = None, phases: PhaseSink | None = None
                ) -> DeploymentPublic:
        """Start ``req.version`` beside the serving release with ``req.weight`` percent of
        the traffic (canary, or A/B sticky by ``sticky_key``), or a copy of it (shadow)."""
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "rollout"):
            record = self._current(name)
            if record.rollout:
                raise self.in_progress(record)
            stable = self._store.get_release(record.release_id)
            model = req.model or (stable.model if stable else name)
            changes = self.contract_changes(name, model, req.version)
            if changes:
                raise self.contract_refusal(name, model, req.version, changes, True)
            timed = Phases(say, phases)
            manifest = self._prepare(model, req.version, record.protocol, timed)
            if manifest.release_id == record.release_id:
                raise Conflict(
                    f"{name!r} already serves {model} v{req.version} "
                    f"({manifest.release_id}); roll out a different version.",
                    details={"deployment": name, "release_id": manifest.release_id})
            from datetime import UTC, datetime

            weight = 0 if req.mode is RolloutMode.shadow else req.weight
            record = replace(record, job_id=job_id, rollout={
                "candidate": manifest.release_id, "weight": weight, "mode": req.mode.value,
                "sticky_key": req.sticky_key, "started_at": datetime.now(UTC).isoformat()})
            what = "a copy of the traffic" if req.mode is RolloutMode.shadow \
                else f"{weight}% of the traffic"
            say(f"starting {manifest.release_id} beside {record.release_id}; it gets {what} "
                "once healthy", 60)
            self._apply(record, timed)
            record = self._put(record, "rollout")
            timed.done(f"{name}: {manifest.release_id} gets {what}")
            return self.get(name)

    def set_weight(self, name: str, weight: int, progress: Progress | None = None,
                   job_id: str | None = None) -> DeploymentPublic:
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "weight change"):
            record = self._current(name)
            if not record.rollout:
                raise self.no_rollout(record, "re-weight")
            if record.rollout.get("mode") == RolloutMode.shadow.value:
                raise Conflict(
                    f"{name!r} runs a shadow rollout: its candidate answers no client. Abort it "
                    "and start a canary to give it traffic.", details={"deployment": name})
            rollout = {**record.rollout, "weight": weight}
            record = replace(record, rollout=rollout, job_id=job_id)
            say(f"routing {weight}% of {name}'s traffic to {rollout['candidate']}", 50)
            self._apply(record)
            self._put(record, "weight")
            say(f"{name}: candidate at {weight}%", 100)
            return self.get(name)

    def promote(self, name: str, progress: Progress | None = None,
                job_id: str | None = None) -> tuple[DeploymentPublic, ReleaseManifest]:
        """The candidate takes all traffic; the old release stays up for rollback.
        Returns the deployment and the release it served before."""
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "promote"):
            record = self._current(name)
            if not record.rollout:
                raise self.no_rollout(record, "promote")
            old = self._store.get_release(record.release_id)
            assert old is not None
            record = replace(record, release_id=record.rollout["candidate"],
                             previous_release_id=record.release_id, job_id=job_id,
                             rollout=None)
            say(f"routing all of {name}'s traffic to {record.release_id}", 50)
            self._apply(record)
            self._put(record, "promote")
            say(f"{name} is serving {record.release_id}; {old.release_id} kept for rollback",
                100)
            return self.get(name), old

    def abort(self, name: str, progress: Progress | None = None,
              job_id: str | None = None) -> DeploymentPublic:
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "abort"):
            record = self._current(name)
            if not record.rollout:
                raise self.no_rollout(record, "abort")
            return self._end_rollout(record, say, job_id)

    def _end_rollout(self, record: DeploymentRecord, say: Progress,
                     job_id: str | None) -> DeploymentPublic:
        candidate = (record.rollout or {}).get("candidate")
        record = replace(record, rollout=None, job_id=job_id)
        say(f"routing all of {record.name}'s traffic back to {record.release_id}; stopping "
            f"{candidate}", 50)
        self._apply(record)
        self._put(record, "end_rollout")
        say(f"{record.name} is serving {record.release_id}", 100)
        return self.get(record.name)

    def rollback(self, name: str, progress: Progress | None = None,
                 job_id: str | None = None) -> tuple[DeploymentPublic, ReleaseManifest | None]:
        """Back to the previous release at once (a rollout under way is aborted instead).
        Returns the deployment and the release rolled back from (None for an abort)."""
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "rollback"):
            record = self._current(name)
            if record.rollout:
                return self._end_rollout(record, say, job_id), None
            if not record.previous_release_id:
                raise NoPreviousRelease(
                    f"{name!r} has no previous release to roll back to: it has served only "
                    f"{record.release_id}. Deploy the version you want instead.",
                    details={"deployment": name, "release_id": record.release_id})
            bad = self._store.get_release(record.release_id)
            record = replace(record, release_id=record.previous_release_id,
                             previous_release_id=None, job_id=job_id, rollout=None)
            say(f"routing all of {name}'s traffic back to {record.release_id}", 50)
            self._apply(record)
            self._put(record, "rollback")
            say(f"{name} is serving {record.release_id} again", 100)
            return self.get(name), bad

    def _feature_binding(self, version: ModelVersionPublic) -> FeatureBinding | None:
        """Refuse a model whose pinned features cannot be served as it was trained on them."""
        refs = version.feature_refs
        if not refs:
            return None
        who = f"{version.name} v{version.version}"
        if self._features is None:
            raise IncompatibleRelease(f"{who} was trained on features {refs} but this platform "
                                      "has no feature store configured.")
        try:
            types = self._features.feature_types(refs)
        except FeatureNotFound as e:
            raise IncompatibleRelease(
                f"{who} was trained on {refs}, which the feature registry does not have: "
                f"{e.message.rstrip('.')}. Apply the definitions of that version, or retrain "
                "on current features and register again.",
                details={"feature_refs": refs}) from e
        problems = feature_mismatches(version.signature, types)
        if problems:
            raise IncompatibleRelease(
                f"{who} does not match its pinned features: {'; '.join(problems)}. "
                "Retrain on a training set of these features and register again.",
                details={"problems": problems, "feature_refs": refs})
        stale = self._features.servable(refs)
        if stale:
            raise IncompatibleRelease(
                f"{who}'s features cannot be served: {'; '.join(stale)}",
                details={"problems": stale, "feature_refs": refs})
        return FeatureBinding(fetcher=self._features.fetcher,
                              config=self._features.online_config(), refs=list(refs),
                              entity_keys=self._features.join_key_types(refs))

    def reapply(self, name: str, progress: Progress | None = None) -> DeploymentPublic:
        """Make the runtime serve ``name``'s recorded release again (after a restart of the
        runtime, or an interrupted change)."""
        say = progress or (lambda msg, _pct: log.info(msg))
        with self._exclusive(name, "reconcile"):
            record, manifest = self._recorded(name)
            say(f"re-applying {record.release_id} to {name} ({record.replicas} replica(s))", 10)
            self._apply(record)
            say(f"{name} is serving {record.release_id} again", 100)
            return self._public(record, manifest)

    def undeploy(self, name: str) -> None:
        with self._exclusive(name, "undeploy"):
            record = self._store.get_deployment(name)
            if record is None and name not in self._runtime.names():
                raise DeploymentNotFound(self._unknown(name))
            self._runtime.delete(name)
            self._store.delete_deployment(name)
            if record is not None:
                self._record_placements(record, None, "undeploy")

    def get(self, name: str) -> DeploymentPublic:
        return self._public(*self._recorded(name))

    def _recorded(self, name: str) -> tuple[DeploymentRecord, ReleaseManifest]:
        record = self._store.get_deployment(name)
        if record is None:
            raise DeploymentNotFound(self._unknown(name))
        manifest = self._store.get_release(record.release_id)
        if manifest is None:  # pragma: no cover - releases are never deleted
            raise DeploymentNotFound(f"release {record.release_id} of {name!r} is missing")
        return record, manifest

    def list(self) -> list[DeploymentPublic]:
        out = []
        for record in self._store.list_deployments():
            manifest = self._store.get_release(record.release_id)
            if manifest is not None:
                out.append(self._public(record, manifest))
        return out

    def set_anonymous(self, name: str, allowed: bool) -> DeploymentRecord:
        """Record whether ``name`` answers requests without a token, and tell its router."""
        with self._exclusive(name, "access change"):
            record = replace(self._current(name), anonymous_predict=allowed)
            self._store.put_deployment(record)
            self._runtime.set_access(name, lambda: self.access(record))
            return record

    def sync_access(self, name: str) -> bool:
        """Push ``name``'s current access (e.g. after a token was revoked) to its router."""
        record = self._store.get_deployment(name)
        if record is None:
            return False
        return self._runtime.set_access(name, lambda: self.access(
            self._store.get_deployment(name) or record))

    def release(self, release_id: str) -> ReleaseManifest | None:
        return self._store.get_release(release_id)

    # -- where releases run, on their model versions (MLflow tags) -----------------------
    def _put(self, record: DeploymentRecord, action: str) -> DeploymentRecord:
        """Store ``record`` and tag the model versions whose placement it changed."""
        before = self._store.get_deployment(record.name)
        saved = self._store.put_deployment(record)
        self._record_placements(before, saved, action)
        return saved

    def _record_placements(self, before: DeploymentRecord | None,
                           after: DeploymentRecord | None, action: str) -> None:
        """Tag each release whose weight or arm in the deployment changed. Best effort:
        the deployment is already serving, a registry hiccup only loses a tag."""
        from datetime import UTC, datetime

        record = after or before
        assert record is not None
        old = self.desired_routes(before) if before else {}
        new = self.desired_routes(after) if after else {}
        now = datetime.now(UTC)
        for release_id in sorted(set(old) | set(new)):
            manifest = self._store.get_release(release_id)
            if manifest is None:  # pragma: no cover - releases are never deleted
                continue
            place = Placement(release_id, new[release_id], arm_of(after, release_id)) \
                if after is not None and release_id in new else None
            try:
                current = self._registry.version_tags(manifest.model, manifest.version)
                changes = placement_tags(current, record.name, release_id, place, action, now)
                if changes:
                    self._registry.set_version_tags(manifest.model, manifest.version, changes)
            except Exception as e:  # noqa: BLE001 - never fail a change that is done
                log.warning("%s: could not tag %s v%s with where it runs: %s", record.name,
                            manifest.model, manifest.version, e)

    # -- helpers ------------------------------------------------------------------------
    def _unknown(self, name: str) -> str:
        known = [r.name for r in self._store.list_deployments()]
        return (f"no deployment named {name!r}; deployments: {known or 'none'}. "
                "Deploy one with client.deploy(model, version=...).")

    def desired_routes(self, record: DeploymentRecord) -> dict[str, int]:
        """Release id -> percent of requests the runtime must route by for ``record`` (a
        shadow and the standby previous release at 0), from the record alone."""
        rollout = record.rollout or {}
        candidate = rollout.get("candidate")
        weight = 0 if rollout.get("mode") == RolloutMode.shadow.value \
            else int(rollout.get("weight", 0))
        out = {record.release_id: 100 - weight}
        if candidate and candidate != record.release_id:
            out[candidate] = weight
        prev = record.previous_release_id
        if self._defaults.keep_previous and prev and prev not in out:
            out[prev] = 0
        return out

    def _public(self, record: DeploymentRecord, manifest: ReleaseManifest) -> DeploymentPublic:
        state = self._runtime.state(record.name)
        rollout = None
        if record.rollout:
            candidate = self._store.get_release(record.rollout["candidate"])
            if candidate is not None:
                rollout = RolloutPublic(candidate=candidate.to_public(),
                                        mode=RolloutMode(record.rollout["mode"]),
                                        weight=int(record.rollout["weight"]),
                                        sticky_key=record.rollout.get("sticky_key"),
                                        started_at=record.rollout.get("started_at"))
        traffic = {manifest.release_id: 100 - (rollout.weight if rollout else 0)}
        if rollout is not None:
            traffic[rollout.candidate.release_id] = rollout.weight
        return DeploymentPublic(
            name=record.name,
            release=manifest.to_public(),
            protocol=record.protocol,
            replicas=record.replicas,
            max_replicas=record.max_replicas,
            running_replicas=state.running.get(manifest.release_id)
            if state.status not in ("runtime_down", "not_found") else None,
            router_replicas=state.router_replicas.get("running")
            if state.status not in ("runtime_down", "not_found") else None,
            status=state.status,
            endpoints=self._runtime.endpoints(record.name, record.protocol),
            traffic=traffic,
            rollout=rollout,
            team=record.team,
            previous_release_id=record.previous_release_id,
            anonymous_predict=record.anonymous_predict,
            updated_at=record.updated_at,
        )
