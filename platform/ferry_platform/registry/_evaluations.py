"""Evaluation sets, evaluations, gates and the champion alias, kept in MLflow.

- An evaluation set version is a run in experiment ``ferry-eval-sets/<model>``: the rows as
  a Parquet artifact, what they are (label, task, slice column, window) as params and a
  JSON artifact, and their digest.
- An evaluation is a run in ``ferry-evaluations/<model>``: every metric of candidate,
  champion and baseline as MLflow metrics (``candidate.roc_auc``, ...), the whole result
  as ``evaluation.json``; the model version is tagged with its latest evaluation.
- A model's gate configuration (with the evaluation set it pins) is the registered
  model's ``ferry.gate`` tag; the champion is its ``champion`` alias, which Ferry alone
  moves.

Models are not loaded here: evaluation runs them in a sandbox, never in the control plane.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ferry_contract import InvalidRequest, NotFound
from ferry_platform.registry._mlflow import MlflowRegistry, _join

EVAL_SETS = "ferry-eval-sets/"
EVALUATIONS = "ferry-evaluations/"
GATE_TAG = "ferry.gate"
EVAL_TAG = "ferry.evaluation"
CHAMPION = "champion"


class MlflowEvaluationStore:
    def __init__(self, registry: MlflowRegistry) -> None:
        self._registry = registry

    @property
    def _client(self) -> Any:
        return self._registry._client

    def _experiment(self, prefix: str, model: str) -> str:
        from mlflow.exceptions import MlflowException

        name = prefix + model
        exp = self._client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        try:
            return str(self._client.create_experiment(
                name, artifact_location=_join(self._registry._artifact_root,
                                              prefix.rstrip("/"), model)))
        except MlflowException:  # created concurrently
            exp = self._client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _runs(self, prefix: str, model: str, where: str = "") -> list[Any]:
        exp = self._client.get_experiment_by_name(prefix + model)
        if exp is None:
            return []
        finished = "attributes.status = 'FINISHED'"
        return list(self._client.search_runs(
            [exp.experiment_id], filter_string=f"{where} and {finished}" if where else finished,
            order_by=["attributes.start_time DESC"], max_results=1000))

    def _json_artifact(self, run_id: str, path: str) -> dict[str, Any]:
        import mlflow

        with tempfile.TemporaryDirectory(prefix="ferry-eval-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp,
                tracking_uri=self._registry._tracking_uri)
            return json.loads(Path(local).read_text())  # type: ignore[no-any-return]

    # -- evaluation sets --------------------------------------------------------------
    def save_eval_set(self, model: str, frame: Any, meta: dict[str, Any]) -> dict[str, Any]:
        self._registry._registered(model)
        exp = self._experiment(EVAL_SETS, model)
        versions = [int(r.data.tags.get("ferry.eval_set", 0)) for r in self._runs(EVAL_SETS, model)]
        version = max(versions, default=0) + 1
        client = self._client
        with tempfile.TemporaryDirectory(prefix="ferry-eval-set-") as tmp:
            try:  # before any run exists: rows Parquet cannot hold are refused cleanly
                frame.to_parquet(Path(tmp, "rows.parquet"), index=False)
            except (ValueError, TypeError, ArithmeticError) as e:
                raise InvalidRequest(
                    f"the rows cannot be stored as a table: {type(e).__name__}: {e}. Give "
                    "each column one type (numbers, strings or booleans; no nested values).",
                ) from e
            run = client.create_run(exp, run_name=f"{model}-eval-set-v{version}",
                                    tags={"ferry.model": model, "ferry.eval_set": str(version)})
            meta = {**meta, "model": model, "version": version, "run_id": run.info.run_id}
            Path(tmp, "eval_set.json").write_text(json.dumps(meta, default=str))
            client.log_artifact(run.info.run_id, str(Path(tmp, "rows.parquet")))
            client.log_artifact(run.info.run_id, str(Path(tmp, "eval_set.json")))
        for key in ("label", "task", "slice_column", "digest", "rows"):
            client.log_param(run.info.run_id, key, str(meta.get(key)))
        client.set_terminated(run.info.run_id)  # only finished runs are evaluation sets
        return meta

    def _set_runs(self, model: str, where: str = "") -> list[Any]:
        """Evaluation set runs, newest version first (not by start time: two uploads may
        share a millisecond)."""
        return sorted(self._runs(EVAL_SETS, model, where),
                      key=lambda r: int(r.data.tags.get("ferry.eval_set", 0)), reverse=True)

    def _set_meta(self, run: Any) -> dict[str, Any]:
        meta = self._json_artifact(run.info.run_id, "eval_set.json")
        # Params cannot change once logged; the JSON artifact could be overwritten.
        meta["digest"] = run.data.params.get("digest", meta.get("digest"))
        return meta

    def eval_sets(self, model: str) -> list[dict[str, Any]]:
        return [self._set_meta(r) for r in self._set_runs(model)]

    def eval_set(self, model: str, version: int | None = None) -> tuple[dict[str, Any], Any]:
        """An evaluation set's description and rows (the newest without ``version``)."""
        import mlflow
        import pandas as pd

        where = f"tags.`ferry.eval_set` = '{version}'" if version else ""
        runs = self._set_runs(model, where)
        if not runs:
            raise NotFound(
                f"model {model!r} has no evaluation set{f' v{version}' if version else ''}. "
                f"Create one with client.create_eval_set({model!r}, rows, label=...) or "
                f"`ferry eval set {model} FILE --label COLUMN`.",
                details={"model": model})
        run_id = runs[0].info.run_id
        meta = self._set_meta(runs[0])
        with tempfile.TemporaryDirectory(prefix="ferry-eval-set-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="rows.parquet", dst_path=tmp,
                tracking_uri=self._registry._tracking_uri)
            return meta, pd.read_parquet(local)

    # -- evaluations ------------------------------------------------------------------
    def save_evaluation(self, model: str, result: dict[str, Any]) -> str:
        exp = self._experiment(EVALUATIONS, model)
        client = self._client
        run = client.create_run(exp, run_name=f"{model}-v{result['version']}-eval", tags={
            "ferry.model": model, "ferry.version": str(result["version"]),
            "ferry.against": str(result.get("against") or ""),
            "ferry.eval_set": str(result["eval_set_version"]),
            "ferry.passed": str(result["passed"]).lower()})
        run_id = run.info.run_id
        result = {**result, "run_id": run_id}
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"{who}.{name}", float(value), now, 0)
                   for who, values in result["metrics"].items()
                   for name, value in values.items() if value is not None]
        if metrics:
            client.log_batch(run_id, metrics=metrics)
        with tempfile.TemporaryDirectory(prefix="ferry-eval-") as tmp:
            Path(tmp, "evaluation.json").write_text(json.dumps(result, default=str))
            client.log_artifact(run_id, str(Path(tmp, "evaluation.json")))
        client.set_terminated(run_id)
        client.set_model_version_tag(model, str(result["version"]), EVAL_TAG, run_id)
        return run_id

    def evaluations(self, model: str, version: int | None = None,
                    against: int | None = None, eval_set: int | None = None,
                    limit: int = 20) -> list[dict[str, Any]]:
        """Stored evaluations, newest first, narrowed by version / reference / set."""
        where = []
        if version is not None:
            where.append(f"tags.`ferry.version` = '{version}'")
        if against is not None:
            where.append(f"tags.`ferry.against` = '{against}'")
        if eval_set is not None:
            where.append(f"tags.`ferry.eval_set` = '{eval_set}'")
        runs = self._runs(EVALUATIONS, model, " and ".join(where))[:limit]
        return [self._json_artifact(r.info.run_id, "evaluation.json") for r in runs]

    # -- gates and the champion -------------------------------------------------------
    def gate(self, model: str) -> dict[str, Any]:
        rm = self._registry._registered(model)
        raw = (rm.tags or {}).get(GATE_TAG)
        return json.loads(raw) if raw else {}

    def set_gate(self, model: str, config: dict[str, Any]) -> None:
        self._registry._registered(model)
        self._client.set_registered_model_tag(model, GATE_TAG, json.dumps(config))

    def champion(self, model: str) -> int | None:
        rm = self._registry._registered(model)
        value = (rm.aliases or {}).get(CHAMPION)
        return int(value) if value is not None else None

    def set_champion(self, model: str, version: int) -> None:
        self._registry._registered(model)
        self._client.set_registered_model_alias(model, CHAMPION, str(version))
