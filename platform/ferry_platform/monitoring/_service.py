"""The monitoring capability: references, reports, canary checks and outcomes over the
prediction log, computed where the cluster has room (Ray tasks) or in this process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ferry_contract import ReferenceSample
from ferry_platform.monitoring import _compute as C  # noqa: N812
from ferry_platform.monitoring import _reference
from ferry_platform.monitoring._store import LogStore, OutcomeStore, ReferenceStore

log = logging.getLogger("ferry.monitoring")

FILES_PER_TASK = 64
"""Log files one scan task reads."""


class LocalExecutor:
    """Runs the computation in this process (no Ray: tests, a platform without serving)."""

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        return [fn(item, *args) for item in items]

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


class RayExecutor:
    """Runs each step as a Ray task: on a cluster, the scans spread over the nodes. The
    tasks reserve no CPU by default, so a cluster whose CPUs serving holds still runs them
    (they share the cores); give ``num_cpus`` to reserve some. Falls back to this process
    when the process is not connected to Ray."""

    def __init__(self, env: dict[str, str] | None = None, num_cpus: float = 0.0) -> None:
        self._env = dict(env or {})
        self._num_cpus = num_cpus
        self._local = LocalExecutor()

    @staticmethod
    def _ray() -> Any:
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is a dependency
            return None
        return ray if ray.is_initialized() else None

    def _remote(self, ray: Any, fn: Callable[..., Any]) -> Any:
        return ray.remote(fn).options(num_cpus=self._num_cpus, max_retries=1,
                                      runtime_env={"env_vars": self._env})

    def map(self, fn: Callable[..., Any], items: Sequence[Any], *args: Any) -> list[Any]:
        ray = self._ray()
        if ray is None:
            return self._local.map(fn, items, *args)
        task = self._remote(ray, fn)
        shared = [ray.put(a) for a in args]
        return list(ray.get([task.remote(item, *shared) for item in items]))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        ray = self._ray()
        if ray is None:
            return self._local.call(fn, *args)
        return ray.get(self._remote(ray, fn).remote(*args))


def _node() -> str:
    """The Ray node this runs on ("" outside Ray)."""
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id()) if ray.is_initialized() else ""
    except Exception:  # noqa: BLE001 - a label
        return ""


def _scan_group(group: tuple[str, list[str]], spec: C.ReportSpec) -> Any:
    uri, files = group
    return C.scan(uri, files, spec), _node()


def _report(partials: list[Any], spec: C.ReportSpec, files: list[str]) -> dict[str, Any]:
    report = C.finish([p for p, _ in partials], spec, files)
    report["computed_on"] = sorted({n for _, n in partials} | {_node()} - {""})
    return report


class MonitoringService:
    """:class:`~ferry_platform.monitoring.Monitor` over files (local or S3)."""

    def __init__(self, log_uri: str, reference_uri: str, *,
                 executor: LocalExecutor | RayExecutor | None = None,
                 max_rows: int = 100_000, metrics_fn: str | None = None) -> None:
        self.log_uri = log_uri
        self.logs = LogStore(log_uri)
        self.outcomes = OutcomeStore(log_uri)
        self.references = ReferenceStore(reference_uri)
        self.executor = executor or LocalExecutor()
        self.max_rows = max_rows
        self.metrics_fn = metrics_fn

    # -- references ---------------------------------------------------------------------------
    def record_reference(self, *, release_id: str, model: str, version: int,
                         signature: Sequence[tuple[str, str]], sample: ReferenceSample,
                         source: str) -> str:
        """Keep ``release_id``'s reference (once: an existing one is never replaced)."""
        existing = self.references.digest(release_id)
        if existing is not None:
            return existing
        document = _reference.build(release_id=release_id, model=model, version=version,
                                    signature=signature, sample=sample, source=source)
        return self.references.save(release_id, document)

    def has_reference(self, release_id: str) -> bool:
        return self.references.digest(release_id) is not None

    def reference(self, release_id: str) -> dict[str, Any] | None:
        return self.references.load(release_id)

    # -- reports ------------------------------------------------------------------------------
    def release_spec(self, release_id: str, model: str, version: int,
                     signature: Sequence[tuple[str, str]]) -> C.ReleaseSpec:
        return C.ReleaseSpec(release_id, model, version, tuple(signature),
                             self.reference(release_id))

    def report(self, *, deployment: str, window: str, start: datetime, end: datetime,
               releases: Sequence[C.ReleaseSpec], thresholds: dict[str, Any],
               slice_columns: Sequence[str] = ()) -> dict[str, Any]:
        """The report of ``deployment``'s traffic in [start, end) (plain data)."""
        models = {r.model for r in releases}
        files = self.logs.files(models, start, end, [r.release_id for r in releases])
        spec = C.ReportSpec(
            log_uri=self.log_uri, deployment=deployment, window=window, start=start, end=end,
            releases=tuple(releases), thresholds=dict(thresholds), max_rows=self.max_rows,
            slice_columns=tuple(slice_columns), metrics_fn=self.metrics_fn,
            outcome_files=tuple(self.outcomes.files(deployment, start)))
        groups = [(self.log_uri, files[i:i + FILES_PER_TASK])
                  for i in range(0, len(files), FILES_PER_TASK)] or [(self.log_uri, [])]
        partials = self.executor.map(_scan_group, groups, spec)
        report: dict[str, Any] = self.executor.call(_report, partials, spec, files)
        report["files"] = len(files)
        return report

    def canary(self, *, deployment: str, stable: C.ReleaseSpec, candidate: C.ReleaseSpec,
               since: datetime, config: dict[str, Any],
               now: datetime | None = None) -> dict[str, Any]:
        end = now or datetime.now(UTC)
        files = self.logs.files({stable.model, candidate.model}, since, end,
                                [stable.release_id, candidate.release_id])
        spec = C.CanarySpec(self.log_uri, deployment, stable, candidate, since, end,
                            tuple(files), tuple(self.outcomes.files(deployment, since)),
                            dict(config))
        result: dict[str, Any] = self.executor.call(C.canary, spec)
        return result

    # -- outcomes -----------------------------------------------------------------------------
    def find(self, deployment: str, models: Sequence[str], request_ids: Sequence[str],
             lookback: timedelta, now: datetime | None = None,
             ) -> dict[tuple[str, int], tuple[str, str, int]]:
        """(request id, row) -> (release id, arm, status) of logged rows, newest hours first
        (stops when every id is found)."""
        end = (now or datetime.now(UTC)) + timedelta(minutes=1)
        files = self.logs.files(models, end - lookback, end)
        wanted = set(request_ids)
        found: dict[tuple[str, int], tuple[str, str, int]] = {}
        for i in range(len(files), 0, -FILES_PER_TASK):
            chunk = files[max(0, i - FILES_PER_TASK):i]
            for rid, row, release, arm, status in C.find(self.log_uri, chunk, deployment,
                                                         sorted(wanted)):
                found.setdefault((rid, row), (release, arm, status))
            if wanted <= {k[0] for k in found}:
                break
        return found

    def active(self, models: Sequence[str], within_s: float) -> bool:
        """Whether serving processes wrote log rows of ``models`` in the last seconds."""
        return self.logs.written_since(models, datetime.now(UTC) - timedelta(seconds=within_s))

    def save_outcomes(self, deployment: str, rows: list[dict[str, Any]]) -> None:
        self.outcomes.save(deployment, rows)

    # -- housekeeping -------------------------------------------------------------------------
    def prune(self, retention_days: float, now: datetime | None = None) -> int:
        before = (now or datetime.now(UTC)) - timedelta(days=retention_days)
        return self.logs.prune(before) + self.outcomes.prune(before)
