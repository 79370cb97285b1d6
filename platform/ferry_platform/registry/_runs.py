"""Pipeline runs kept in MLflow: one run per pipeline run, in ``ferry-pipelines/<name>``,
good or bad, with its params, metrics, code version and data digest as tags, and links to
the versions it registered (each tagged back with the run) and the evaluations it got."""

from __future__ import annotations

from typing import Any

from ferry_platform.registry._mlflow import MlflowRegistry, _join

PIPELINES = "ferry-pipelines/"


class MlflowRunLog:
    def __init__(self, registry: MlflowRegistry) -> None:
        self._registry = registry

    def record(self, pipeline: str, run_id: str, *, params: dict[str, Any],
               metrics: dict[str, float], tags: dict[str, str], state: str,
               outcome: dict[str, Any], registered: list[tuple[str, int]]) -> str:
        """The MLflow run id of the pipeline run ``run_id``'s record."""
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException

        client = self._registry._client
        name = PIPELINES + pipeline
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            exp_id = str(exp.experiment_id)
        else:
            try:
                exp_id = str(client.create_experiment(name, artifact_location=_join(
                    self._registry._artifact_root, PIPELINES.rstrip("/"), pipeline)))
            except MlflowException:  # created concurrently
                found = client.get_experiment_by_name(name)
                if found is None:
                    raise
                exp_id = str(found.experiment_id)
        run = client.create_run(exp_id, run_name=run_id, tags={"ferry.pipeline": pipeline,
                                                               "ferry.pipeline_run": run_id})
        mlflow_id = str(run.info.run_id)
        client.log_batch(
            mlflow_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in sorted(metrics.items())],
            params=[Param(k[:250], str(v)[:6000]) for k, v in sorted(params.items())],
            tags=[RunTag(k, str(v)[:5000]) for k, v in sorted(tags.items())])
        client.log_dict(mlflow_id, outcome, "pipeline_run.json")
        client.set_terminated(mlflow_id, "FINISHED" if state == "succeeded" else "FAILED")
        for model, version in registered:
            try:
                client.set_model_version_tag(model, str(version), "ferry.pipeline_run",
                                             f"{pipeline}/{run_id} (mlflow run {mlflow_id})")
            except MlflowException:
                pass  # deleted meanwhile: the run still names it
        return mlflow_id
