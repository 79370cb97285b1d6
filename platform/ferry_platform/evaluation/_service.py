"""Continuous evaluation as a use case: evaluation sets, evaluations, gates, the champion.

A version is evaluated on the evaluation set pinned in its model's gate against the
champion (or a chosen reference version) and a trivial baseline, on the same rows; for a
model trained on Feast features each version gets its own pinned features joined
point-in-time for those rows (here, on the control plane: Feast runs no model code).

Model code never runs here. Each version's artifacts are downloaded, checked against the
digest recorded at registration, and handed with its input frames to a sandbox — one
isolated process per version, so candidate and champion cannot touch each other — which
loads the model and returns its answers as JSON. The labels stay here: the answers are
scored on the control plane, so a model can neither see the truth nor grade itself.
Results are stored in MLflow; the gate decides who may become champion.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

from ferry_contract import (
    EvalSetCreate,
    EvalSetPublic,
    EvaluationFailed,
    EvaluationPublic,
    GateConfig,
    GateFailed,
    InvalidRequest,
    ModelVersionPublic,
    NotFound,
)
from ferry_platform.core import REGISTRY_ARTIFACTS, directory_digest
from ferry_platform.evaluation import _metrics as m
from ferry_platform.evaluation._gate import gates
from ferry_platform.evaluation._predict import TARGET
from ferry_platform.evaluation._robustness import robustness_plan, robustness_report
from ferry_platform.sandbox import (
    Sandbox,
    SandboxCrashed,
    SandboxError,
    SandboxOutOfMemory,
    SandboxTimeout,
)

log = logging.getLogger("ferry.evaluation")

Progress = Callable[[str, int], None]
ENTITY_TIMESTAMP = "event_timestamp"
ROBUST = "robust:"


class EvaluationStore(TypingProtocol):
    """Where evaluation sets, evaluations, gates and the champion are kept. What is saved
    is what is returned; newest first. Unknown models: :class:`ModelNotFound` on writes
    and on gates and champions, nothing found on reads of sets and evaluations."""

    def save_eval_set(self, model: str, frame: Any, meta: dict[str, Any]) -> dict[str, Any]: ...

    def eval_sets(self, model: str) -> list[dict[str, Any]]: ...

    def eval_set(self, model: str, version: int | None = None) -> tuple[dict[str, Any], Any]: ...

    def save_evaluation(self, model: str, result: dict[str, Any]) -> str: ...

    def evaluations(self, model: str, version: int | None = None, against: int | None = None,
                    eval_set: int | None = None, limit: int = 20) -> list[dict[str, Any]]: ...

    def gate(self, model: str) -> dict[str, Any]: ...

    def set_gate(self, model: str, config: dict[str, Any]) -> None: ...

    def champion(self, model: str) -> int | None: ...

    def set_champion(self, model: str, version: int) -> None: ...


class Versions(TypingProtocol):
    def get_version(self, name: str, version: int) -> ModelVersionPublic: ...

    def download_version(self, name: str, version: int, dst: Path) -> Path: ...


class TrainingSets(TypingProtocol):
    def training_set(self, features: list[str], entities: Any) -> Any: ...


@dataclass(frozen=True)
class EvaluationLimits:
    """What one model version may use in its sandbox during an evaluation."""

    timeout_s: float = 600.0
    memory_mb: int = 4096


def rows_digest(frame: Any) -> str:
    """Digest of an evaluation set's rows (values and column order, not the index)."""
    import pandas as pd

    return hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).values.tobytes()).hexdigest()[:16]


class EvaluationService:
    def __init__(self, store: EvaluationStore, versions: Versions,
                 features: TrainingSets | None = None, *, sandbox: Sandbox,
                 limits: EvaluationLimits | None = None) -> None:
        self._store = store
        self._versions = versions
        self._features = features
        self._sandbox = sandbox
        self._limits = limits or EvaluationLimits()

    # -- evaluation sets --------------------------------------------------------------
    def create_eval_set(self, model: str, body: EvalSetCreate) -> EvalSetPublic:
        """Store the rows as the model's next evaluation set version. The gate keeps using
        the version pinned in it until an admin moves the pin."""
        import pandas as pd

        try:
            frame = pd.DataFrame(body.rows)
        except (ValueError, TypeError) as e:
            raise InvalidRequest(f"the rows do not form a table: {e}") from e
        problems = [c for c in (body.label, body.slice_column) if c and c not in frame.columns]
        if problems:
            raise InvalidRequest(
                f"column(s) {problems} are not in the rows; they have {sorted(frame.columns)}",
                details={"missing": problems})
        if frame[body.label].isna().any():
            raise InvalidRequest(
                f"label {body.label!r} is null in {int(frame[body.label].isna().sum())} row(s); "
                "every evaluation row needs its true outcome")
        if body.start or body.end:
            if ENTITY_TIMESTAMP not in frame.columns:
                raise InvalidRequest(f"a window (start/end) needs an {ENTITY_TIMESTAMP!r} column")
            try:
                times = pd.to_datetime(frame[ENTITY_TIMESTAMP], utc=True)
            except (ValueError, TypeError) as e:
                raise InvalidRequest(f"{ENTITY_TIMESTAMP!r} holds values that are not "
                                     f"times: {e}") from e
            keep = pd.Series(True, index=frame.index)
            if body.start:
                keep &= times >= _utc(body.start)
            if body.end:
                keep &= times < _utc(body.end)
            frame = frame[keep].reset_index(drop=True)
        if len(frame) < 10:
            raise InvalidRequest(f"only {len(frame)} rows are left in the window; an evaluation "
                                 "set needs at least 10")
        task = m.infer_task(frame[body.label]) if body.task.value == "auto" else body.task.value
        frame = _as_stored(frame)  # the digest is of the rows as they are read back
        try:
            digest = rows_digest(frame)
        except TypeError as e:
            raise InvalidRequest(f"the rows hold values that are not plain numbers, strings or "
                                 f"booleans (e.g. nested lists): {e}") from e
        meta = self._store.save_eval_set(model, frame, {
            "label": body.label, "task": task, "slice_column": body.slice_column,
            "digest": digest, "rows": len(frame), "columns": list(frame.columns),
            "start": body.start.isoformat() if body.start else None,
            "end": body.end.isoformat() if body.end else None,
            "created_at": datetime.now(UTC).isoformat()})
        return EvalSetPublic.model_validate(meta)

    def eval_sets(self, model: str) -> list[EvalSetPublic]:
        return [EvalSetPublic.model_validate(s) for s in self._store.eval_sets(model)]

    def eval_set_rows(self, model: str, version: int | None = None,
                      ) -> tuple[dict[str, Any], Any]:
        """An evaluation set's description and rows (the newest without ``version``);
        monitoring's reference for a version registered without a training sample."""
        return self._eval_set(model, version)

    def _eval_set(self, model: str, version: int | None) -> tuple[dict[str, Any], Any]:
        """An evaluation set's description and rows, refused if the rows are not the ones
        uploaded (their digest changed)."""
        meta, rows = self._store.eval_set(model, version)
        actual = rows_digest(rows)
        if actual != meta.get("digest"):
            raise EvaluationFailed(
                f"evaluation set v{meta.get('version')} of {model} is not what was uploaded: "
                f"its rows' digest is {actual}, {meta.get('digest')} was recorded. Upload the "
                "set again and have an admin pin the new version.",
                details={"model": model, "eval_set_version": meta.get("version"),
                         "cause": "digest"})
        return meta, rows

    # -- gates --------------------------------------------------------------------------
    def gate_config(self, model: str) -> GateConfig:
        return GateConfig.model_validate(self._store.gate(model))

    def set_gate_config(self, model: str, config: GateConfig) -> GateConfig:
        """Set the gate, including which evaluation set it uses (the pin): callers let
        only the model's team admins do this."""
        if config.eval_set_version is not None:
            known = sorted(int(s["version"]) for s in self._store.eval_sets(model))
            if config.eval_set_version not in known:
                raise NotFound(
                    f"model {model!r} has no evaluation set v{config.eval_set_version} to pin; "
                    f"its versions: {known or 'none'}",
                    details={"model": model, "eval_set_version": config.eval_set_version,
                             "known_versions": known})
        self._store.set_gate(model, config.model_dump(mode="json"))
        return config

    def pinned_eval_set(self, model: str) -> int | None:
        """The evaluation set version the gate uses (None: none pinned)."""
        return self.gate_config(model).eval_set_version

    def champion(self, model: str) -> int | None:
        return self._store.champion(model)

    # -- evaluating ---------------------------------------------------------------------
    def _frame_for(self, mv: ModelVersionPublic, rows: Any) -> Any:
        """The version's own inputs for the evaluation rows (its pinned features joined
        point-in-time, when it was trained on features)."""
        columns = [c.name for c in mv.signature]
        if mv.feature_refs:
            if self._features is None:
                raise InvalidRequest(f"{mv.name} v{mv.version} needs features; no feature "
                                     "store is configured")
            frame = self._features.training_set(mv.feature_refs, rows).frame
        else:
            frame = rows
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InvalidRequest(
                f"the evaluation set lacks {missing}, inputs of {mv.name} v{mv.version}; it "
                f"has {sorted(frame.columns)}. Upload a set with these columns (or the "
                "entity keys and event_timestamp of its features).",
                details={"missing": missing})
        return frame[columns]

    def _archive(self, mv: ModelVersionPublic, role: str) -> tuple[bytes, str]:
        """The version's model directory as a tar, once its digest is the registered one:
        the sandbox gets exactly the bytes that were checked."""
        details = {"model": mv.name, "version": mv.version, "role": role, "cause": "digest"}
        with tempfile.TemporaryDirectory(prefix="ferry-eval-model-") as tmp:
            local = Path(self._versions.download_version(mv.name, mv.version, Path(tmp)))
            digest = directory_digest(local)
            if not mv.model_digest or digest != mv.model_digest:
                raise EvaluationFailed(
                    f"{mv.name} v{mv.version} ({role}) is not the model that was registered: "
                    f"its artifacts' digest is {digest}, the registry recorded "
                    f"{mv.model_digest or 'none'}. Nothing was loaded. Register the model "
                    "again (and find out who changed the stored artifacts).", details=details)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                files = [local] if local.is_file() else sorted(
                    p for p in local.rglob("*") if p.is_file() and p.name not in REGISTRY_ARTIFACTS)
                for p in files:
                    info = tarfile.TarInfo(p.name if p == local else p.relative_to(local).as_posix())
                    info.size, info.mode = p.stat().st_size, 0o644
                    with p.open("rb") as f:
                        tar.addfile(info, f)
            return buf.getvalue(), digest

    def _answers(self, mv: ModelVersionPublic, role: str, archive: bytes,
                 frames: dict[str, Any], task: str) -> dict[str, m.Answers]:
        """One version's answers to its frames, from its own sandbox."""
        what = f"{mv.name} v{mv.version} ({role})"
        details: dict[str, Any] = {"model": mv.name, "version": mv.version, "role": role}
        limits = self._limits
        try:
            out = self._sandbox.run(TARGET, {"archive": archive, "frames": frames,
                                             "proba": task == "classification"},
                                    timeout_s=limits.timeout_s, memory_mb=limits.memory_mb)
        except SandboxOutOfMemory as e:
            raise EvaluationFailed(
                f"{what} ran out of memory in its sandbox ({e}); a model may use "
                f"{limits.memory_mb} MB while it is evaluated (FERRY_EVALUATION_MEMORY_MB)",
                details={**details, "cause": "memory"}) from e
        except SandboxTimeout as e:
            raise EvaluationFailed(
                f"{what} did not load and answer within {limits.timeout_s:g}s in its sandbox "
                f"({e}); the limit is FERRY_EVALUATION_TIMEOUT_S",
                details={**details, "cause": "timeout"}) from e
        except SandboxCrashed as e:
            raise EvaluationFailed(f"{what}: its sandbox process died ({e})",
                                   details={**details, "cause": "crashed"}) from e
        except SandboxError as e:
            raise EvaluationFailed(f"{what} could not be evaluated: {e}",
                                   details={**details, "cause": "raised"}) from e
        if isinstance(out, dict) and "load_error" in out:
            raise EvaluationFailed(
                f"{what} cannot be loaded for evaluation: {str(out['load_error'])[:500]}",
                details={**details, "cause": "load"})
        try:
            classes = out.get("classes")
            return {name: m.Answers(labels=a.get("labels"), proba=a.get("proba"),
                                    classes=classes, error=a.get("error"))
                    for name, a in out["frames"].items()}
        except (AttributeError, KeyError, TypeError) as e:
            raise EvaluationFailed(f"{what} answered in a form Ferry cannot read",
                                   details={**details, "cause": "raised"}) from e

    def evaluate(self, model: str, version: int, against: int | None = None,
                 progress: Progress | None = None,
                 eval_set_version: int | None = None) -> EvaluationPublic:
        """Evaluate ``version`` against ``against`` (default: the champion) and the
        baseline on the pinned evaluation set (or ``eval_set_version``; the newest if
        nothing is pinned — only evaluations on the pinned set count for the gate)."""
        say = progress or (lambda msg, _pct: log.info(msg))
        say(f"loading the evaluation set of {model}", 5)
        gate = self.gate_config(model)
        meta, rows = self._eval_set(model, eval_set_version or gate.eval_set_version)
        set_version = int(meta["version"])
        reference = against if against is not None else self._store.champion(model)
        if reference == version:
            reference = None
        config = m.GateConfig(
            primary_metric=gate.primary_metric, tolerance=gate.tolerance,
            baseline_margin=gate.baseline_margin, slice_column=meta.get("slice_column"),
            slice_tolerance=gate.slice_tolerance, min_slice_rows=gate.min_slice_rows,
            guardrails=None if gate.guardrails is None else tuple(
                m.Guardrail(g.metric, g.tolerance, g.relative, g.vs_baseline)
                for g in gate.guardrails))
        task = meta["task"]
        members: dict[str, ModelVersionPublic] = {}
        frames: dict[str, dict[str, Any]] = {}
        for role, v in (("candidate", version), ("champion", reference)):
            if v is not None:
                members[role] = self._versions.get_version(model, v)
                frames[role] = {"eval": self._frame_for(members[role], rows)}
        plan = robustness_plan(frames["candidate"]["eval"])
        frames["candidate"].update({ROBUST + k: f for k, f in plan.frames.items()})
        say("checking each version's artifacts against its registered digest", 15)
        archives = {role: self._archive(mv, role) for role, mv in members.items()}
        say(f"{model}: loading and asking "
            + " and ".join(f"v{mv.version}" for mv in members.values())
            + f" for {len(rows)} rows in their sandboxes", 30)
        with ThreadPoolExecutor(len(members), thread_name_prefix="ferry-eval") as pool:
            running = {role: pool.submit(self._answers, mv, role, archives[role][0],
                                         frames[role], task)
                       for role, mv in members.items()}
            answers = {role: f.result() for role, f in running.items()}
        label = meta["label"]
        slice_column = meta.get("slice_column")
        say(f"scoring {len(rows)} rows "
            f"({'5-fold' if len(rows) <= m.SMALL_DATA_ROWS else 'one pass'})", 70)
        try:
            result = m.evaluate_answers(
                task, rows[label], {role: a["eval"] for role, a in answers.items()},
                slices=rows[slice_column] if slice_column else None, gate=config)
        except (ValueError, TypeError, KeyError) as e:
            raise InvalidRequest(
                f"{model} v{version} cannot be scored on evaluation set v{set_version}: "
                f"{type(e).__name__}: {e}. Check that the label {label!r} holds what the "
                "model predicts.", details={"model": model, "version": version}) from e
        say("robustness: scales, perturbation, nulls", 80)
        result.robustness["candidate"] = robustness_report(
            task, plan, {k.removeprefix(ROBUST): a for k, a in answers["candidate"].items()
                         if k.startswith(ROBUST)})
        checks = gates(result, config, "champion" if reference is not None else None)
        public = EvaluationPublic(
            model=model, version=version, against=reference,
            eval_set_version=set_version, eval_set_digest=str(meta["digest"]),
            model_digests={role: digest for role, (_, digest) in archives.items()},
            task=result.task, primary_metric=result.primary_metric, rows=result.rows,
            folds=result.folds, metrics=result.metrics, std=result.std,
            per_class=result.per_class, slices=result.slices,
            robustness=_plain(result.robustness), gates=checks,
            passed=all(c["passed"] for c in checks),
            # the gate as applied: its thresholds and the evaluation set actually used
            gate=gate.model_copy(update={"eval_set_version": set_version}),
            created_at=datetime.now(UTC))
        say("storing the evaluation in MLflow", 90)
        run_id = self._store.save_evaluation(model, public.model_dump(mode="json"))
        say(f"{model} v{version}: {'passed' if public.passed else 'failed'} its gate", 100)
        return public.model_copy(update={"run_id": run_id})

    def evaluations(self, model: str, version: int | None = None,
                    against: int | None = None) -> list[EvaluationPublic]:
        return [EvaluationPublic.model_validate(e)
                for e in self._store.evaluations(model, version, against)]

    def _find(self, model: str, version: int, against: int | None, set_version: int,
              gate: GateConfig | None) -> EvaluationPublic | None:
        """The newest evaluation of ``version`` against ``against`` on that evaluation set
        (with the digest it has now), under ``gate`` if given."""
        sets = {int(s["version"]): s for s in self._store.eval_sets(model)}
        if set_version not in sets:
            return None
        digest = sets[set_version].get("digest")
        for limit in (1, 20):  # the newest is almost always the one; each costs a download
            found = self._store.evaluations(model, version, against, eval_set=set_version,
                                            limit=limit)
            for raw in found:
                e = EvaluationPublic.model_validate(raw)
                if e.against == against and e.eval_set_digest == digest and \
                        (gate is None or e.gate == gate):
                    return e
            if len(found) < limit:
                break
        return None

    def latest(self, model: str, version: int, against: int | None) -> EvaluationPublic | None:
        """The evaluation the gate goes by: the newest of ``version`` against ``against``
        on the pinned evaluation set, made under the gate as it is now (a changed
        tolerance or pin means evaluating again)."""
        gate = self.gate_config(model)
        if gate.eval_set_version is None:
            return None
        return self._find(model, version, against, gate.eval_set_version, gate)

    def compare(self, model: str, base: int, candidate: int) -> EvaluationPublic:
        """``candidate`` vs ``base`` on the pinned evaluation set (the newest, if none is
        pinned)."""
        pinned = self.pinned_eval_set(model)
        newest = [int(s["version"]) for s in self._store.eval_sets(model)]
        set_version = pinned or max(newest, default=0)
        if not set_version:
            self.eval_set_required(model)  # 404 naming how to create one
        found = self._find(model, candidate, base, set_version, None)
        if found is None:
            raise NotFound(
                f"{model} v{candidate} has not been evaluated against v{base} on evaluation "
                f"set v{set_version}. Run: ferry eval run {model} {candidate} --against {base}",
                details={"model": model, "version": candidate, "against": base})
        return found

    # -- the gate ----------------------------------------------------------------------
    def eval_set_required(self, model: str) -> None:
        self._store.eval_set(model)  # raises NotFound naming how to create one

    def has_eval_set(self, model: str) -> bool:
        return bool(self._store.eval_sets(model))

    def require_pinned(self, model: str, version: int, action: str) -> None:
        """Refuse (422) a gated action on a model whose gate has no evaluation set."""
        if self.pinned_eval_set(model) is not None:
            return
        sets = sorted(int(s["version"]) for s in self._store.eval_sets(model))
        if not sets:
            raise GateFailed(
                f"{model} has no evaluation set, so v{version} cannot {action}: every "
                "candidate is compared with the champion and a baseline first. Create one "
                f"(client.create_eval_set({model!r}, rows, label=...) or `ferry eval set "
                f"{model} FILE --label COLUMN`) and have an admin of its team pin it "
                "(admins may override with a reason).",
                details={"model": model, "version": version})
        raise GateFailed(
            f"{model}'s gate has no evaluation set pinned, so v{version} cannot {action}. "
            f"An admin of its team pins one (newest: v{sets[-1]}): "
            f"client.set_gate({model!r}, eval_set_version={sets[-1]}) or `ferry eval gate "
            f"{model} --eval-set {sets[-1]}`.",
            details={"model": model, "version": version, "eval_sets": sets})

    def require_passed(self, model: str, version: int, evaluation: EvaluationPublic | None,
                       action: str) -> None:
        if evaluation is None:
            raise GateFailed(
                f"{model} v{version} has no evaluation against the current champion; "
                f"evaluate it first: ferry eval run {model} {version}",
                details={"model": model, "version": version})
        if not evaluation.passed:
            failing = [c for c in evaluation.gates if not c.passed]
            raise GateFailed(
                f"{model} v{version} failed its gate, so it cannot {action}: "
                + "; ".join(c.detail for c in failing)
                + ". An admin may override with a reason.",
                details={"model": model, "version": version,
                         "failed": [c.model_dump() for c in failing],
                         "evaluation_run_id": evaluation.run_id})

    def set_champion(self, model: str, version: int) -> None:
        self._store.set_champion(model, version)


def _as_stored(frame: Any) -> Any:
    """The rows as a store reads them back (through Parquet): refused cleanly if they
    cannot be stored as a table."""
    import pandas as pd

    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=False)
    except (ValueError, TypeError, ArithmeticError) as e:
        raise InvalidRequest(
            f"the rows cannot be stored as a table: {type(e).__name__}: {e}. Give each "
            "column one type (numbers, strings or booleans; no nested values).") from e
    buf.seek(0)
    return pd.read_parquet(buf)


def _utc(moment: datetime) -> Any:
    import pandas as pd

    ts = pd.Timestamp(moment)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy scalars, dataclasses) of a robustness record."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    return value
