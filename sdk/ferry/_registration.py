"""Logging a model to MLflow with its lineage, on the client (imports MLflow lazily)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from ferry._frameworks import Framework, detect_framework
from ferry_contract import NAME_PATTERN, InvalidRequest, ModelVersionCreate


def code_version(explicit: str | None = None) -> str:
    """The code's version: an explicit value, else the git commit (``+dirty`` if modified)."""
    if explicit:
        return explicit
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unversioned"
    return f"git:{sha}{'+dirty' if dirty else ''}" if sha else "unversioned"


def check_name(name: str) -> None:
    if not re.match(NAME_PATTERN, name):
        raise InvalidRequest(
            f"model name {name!r} is not allowed: use lower-case letters, digits and dashes, "
            "starting with a letter (at most 63 characters), e.g. 'churn-classifier'."
        )


def split_training_data(training_data: Any, target: str | None) -> tuple[Any, Any]:
    import pandas as pd

    if not isinstance(training_data, pd.DataFrame):
        raise InvalidRequest(
            f"training_data must be a pandas DataFrame of the features the model was trained "
            f"on (got {type(training_data).__name__}); its columns become the signature."
        )
    if training_data.empty:
        raise InvalidRequest("training_data is empty; pass the frame the model was trained on.")
    if target is None:
        return training_data, None
    if target not in training_data.columns:
        raise InvalidRequest(
            f"target column {target!r} is not in training_data; its columns are "
            f"{list(training_data.columns)}."
        )
    return training_data.drop(columns=[target]), training_data[target]


def log_model(
    model: Any,
    *,
    name: str,
    tracking_uri: str,
    experiment_id: str,
    training_data: Any,
    target: str | None,
    params: Mapping[str, Any] | None,
    metrics: Mapping[str, float] | None,
    code: str | None,
) -> ModelVersionCreate:
    """Log ``model`` and its lineage in one MLflow run; return what registers it."""
    import mlflow
    from mlflow.models import infer_signature

    framework = detect_framework(model)
    features, labels = split_training_data(training_data, target)
    try:
        sample_out = model.predict(features.head(100))
    except Exception as e:
        raise InvalidRequest(
            f"the model cannot predict on training_data's features {list(features.columns)}: "
            f"{type(e).__name__}: {e}. Pass the frame it was trained on (and target=...)."
        ) from e
    with _quiet():
        signature = infer_signature(features, sample_out)
    version = code_version(code)
    # The user's own MLflow tracking URI is put back afterwards.
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        return _log_run(model, framework, name=name, experiment_id=experiment_id,
                        training_data=training_data, features=features, labels=labels,
                        target=target, params=params, metrics=metrics, signature=signature,
                        version=version)
    finally:
        mlflow.set_tracking_uri(previous_uri)


def _log_run(model: Any, framework: Framework, *, name: str, experiment_id: str,
             training_data: Any, features: Any, labels: Any, target: str | None,
             params: Mapping[str, Any] | None, metrics: Mapping[str, float] | None,
             signature: Any, version: str) -> ModelVersionCreate:
    """One MLflow run: params, metrics, the training dataset, lineage tags and the model."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    flavor = importlib.import_module(f"mlflow.{framework.flavor}").log_model
    with _quiet(), mlflow.start_run(experiment_id=experiment_id, run_name=f"{name}-register") as run:
        if params:
            mlflow.log_params(dict(params))
        all_metrics = {"training_rows": float(len(features))}
        if labels is not None and hasattr(model, "score"):
            try:
                all_metrics["training_score"] = float(model.score(features, labels))
            except Exception:  # noqa: BLE001 - a score is a nice-to-have
                pass
        all_metrics.update({k: float(v) for k, v in (metrics or {}).items()})
        mlflow.log_metrics(all_metrics)
        with _quiet():
            dataset = from_pandas(training_data, targets=target, name=f"{name}-training")
        mlflow.log_input(dataset, context="training")
        tags = {
            "ferry.model": name,
            "ferry.framework": framework.name,
            "ferry.code_version": version,
            "ferry.training_data_digest": dataset.digest,
        }
        if version.startswith("git:"):
            tags["mlflow.source.git.commit"] = version.removeprefix("git:").removesuffix("+dirty")
        mlflow.set_tags(tags)
        extra: dict[str, Any] = {}
        if framework.name == "sklearn":
            # MLflow saves scikit-learn models with skops, which loads only the types it
            # is told to trust. The registering author vouches for their own model's types.
            extra["skops_trusted_types"] = _skops_types(model)
        with _quiet():
            info = flavor(
                model,
                name="model",
                signature=signature,
                input_example=features.head(3),
                pip_requirements=framework.pinned_requirements(),
                **extra,
            )
    return ModelVersionCreate(
        model_uri=f"models:/{info.model_id}",
        run_id=run.info.run_id,
        framework=framework.name,
        training_data_digest=dataset.digest,
        code_version=version,
    )


def _skops_types(model: Any) -> list[str]:
    try:
        import skops.io
    except ImportError:  # older MLflow pickles instead; nothing to trust
        return []
    return list(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


_NOISY_LOGGERS = {"mlflow.utils.uv_utils": logging.WARNING,
                  "mlflow.utils.environment": logging.ERROR}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence MLflow's hints that do not apply to a Ferry registration: integer columns
    cannot hold nulls (Ferry's data plane reports a null in a required column itself) and
    how it resolved the environment (Ferry pins the requirements explicitly)."""
    saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name, level in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*Inferred schema contains integer")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
