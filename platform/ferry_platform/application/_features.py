"""Versioned features as the API changes them: apply definitions, materialize, build
point-in-time training sets (bounded: at most ``concurrency`` at once)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Protocol

from ferry_contract import FeatureNotFound, JobKind, MaterializeCreate, TooManyRequests
from ferry_platform.access import Principal
from ferry_platform.application._audited import Audit, AuditedJobs
from ferry_platform.application._policy import Policy
from ferry_platform.jobs import JobContext
from ferry_platform.store import JobRecord

FEATURES = "features"


class FeaturePort(Protocol):
    """What the API needs of the features capability."""

    def views(self) -> list[Any]: ...
    def freshness(self) -> list[Any]: ...
    def plan(self) -> list[Any]: ...
    def apply(self) -> list[Any]: ...
    def materialize(self, start: datetime, end: datetime, views: list[str] | None = None,
                    progress: Any = None) -> list[str]: ...
    def training_set(self, features: list[str], entities: Any) -> Any: ...


class Features:
    def __init__(self, *, policy: Policy, audit: Audit, jobs: AuditedJobs,
                 features: FeaturePort, training_set_concurrency: int = 2) -> None:
        self._policy = policy
        self._audit = audit
        self._jobs = jobs
        self.port = features
        self._building = threading.BoundedSemaphore(training_set_concurrency)
        self._concurrency = training_set_concurrency

    def apply(self, who: Principal) -> list[Any]:
        self._policy.admit(who, "apply_features", FEATURES)
        changes = self.port.apply()
        self._audit(who, "apply_features", FEATURES, [None], details={
            "changes": [c.describe() for c in changes if c.change != "unchanged"]})
        return changes

    def materialize(self, body: MaterializeCreate, who: Principal) -> JobRecord:
        """Load each view's active version into the online store for [start, end] as a job;
        unknown views are refused here."""
        self._policy.admit(who, "materialize_features", FEATURES)
        if body.views:
            known = {v.name for v in self.port.views()}
            unknown = [v for v in body.views if v not in known]
            if unknown:
                raise FeatureNotFound(f"no feature view(s) {unknown}; views: {sorted(known)}")

        def run(ctx: JobContext) -> dict[str, Any]:
            def progress(done: int, total: int, part: str) -> None:
                ctx.step(f"materializing {part}" if part else "materialized",
                         int(100 * done / max(total, 1)))

            return {"materialized": self.port.materialize(body.start, body.end, body.views,
                                                          progress)}

        return self._jobs.submit(who, JobKind.materialize, FEATURES, FEATURES, [None],
                                 body.model_dump(mode="json"), run,
                                 lock="features/materialize",
                                 summary=lambda r: {"views": r["materialized"]})

    def training_set(self, features: list[str], entities: Any, who: Principal) -> Any:
        """A point-in-time training set; refused with 429 while ``concurrency`` are being
        built (each holds its entity rows and features in memory)."""
        self._policy.admit(who, "create_training_set", "training-set")
        if not self._building.acquire(blocking=False):
            raise TooManyRequests(
                f"{self._concurrency} training sets are being built right now; retry in a few "
                "seconds (or build smaller sets)", details={"limit": self._concurrency})
        try:
            return self.port.training_set(features, entities)
        finally:
            self._building.release()
