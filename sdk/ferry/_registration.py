"""Saving a model and its lineage on the client, for the control plane to log (imports
MLflow lazily). The client never talks to MLflow's tracking store: it saves the model
locally, packs it, and uploads it with its lineage to the control plane."""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import shutil
import subprocess
import tarfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ferry._frameworks import detect_framework
from ferry_contract import (
    NAME_PATTERN,
    DatasetLineage,
    InvalidRequest,
    LoggedModelCreate,
    ReferenceSample,
)

REFERENCE_ROWS = 2000
"""Training rows sent (a uniform sample) for monitoring to compare production with."""
REFERENCE_BYTES = 600_000
"""Largest reference (as JSON) sent with the lineage: fewer rows for very wide data."""


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


def save_model(
    model: Any,
    path: Path,
    *,
    name: str,
    training_data: Any,
    target: str | None,
    params: Mapping[str, Any] | None,
    metrics: Mapping[str, float] | None,
    code: str | None,
    feature_refs: list[str] | None = None,
) -> LoggedModelCreate:
    """Save ``model`` as an MLflow model directory at ``path`` (signature inferred from
    ``training_data``'s features, an input example, pinned requirements) and return its
    lineage: what the control plane writes to the model's run. Nothing leaves this machine
    here, and no tracking server is involved."""
    from mlflow.data.pandas_dataset import from_pandas
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
    flavor = importlib.import_module(f"mlflow.{framework.flavor}").save_model
    extra: dict[str, Any] = {}
    if framework.name == "sklearn":
        # MLflow saves scikit-learn models with skops, which loads only the types it
        # is told to trust. The registering author vouches for their own model's types.
        extra["skops_trusted_types"] = _skops_types(model)
    with _quiet():
        signature = infer_signature(features, sample_out)
        flavor(model, str(path), signature=signature, input_example=features.head(3),
               pip_requirements=framework.pinned_requirements(), **extra)
        dataset = from_pandas(training_data, targets=target, name=f"{name}-training").to_dict()
    for pycache in list(path.rglob("__pycache__")):
        shutil.rmtree(pycache, ignore_errors=True)
    all_metrics = {"training_rows": float(len(features))}
    if labels is not None and hasattr(model, "score"):
        try:
            all_metrics["training_score"] = float(model.score(features, labels))
        except Exception:  # noqa: BLE001 - a score is a nice-to-have
            pass
    all_metrics.update({k: float(v) for k, v in (metrics or {}).items()})
    try:
        return LoggedModelCreate(
            framework=framework.name,
            code_version=code_version(code),
            params={str(k): str(v) for k, v in (params or {}).items()},
            metrics=all_metrics,
            dataset=DatasetLineage.model_validate(dataset),
            feature_refs=list(feature_refs or []),
            reference=reference_sample(model, features, labels, target),
        )
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'value'}: {err['msg']}"
                             for err in e.errors(include_url=False)[:10])
        raise InvalidRequest(f"cannot register {name!r}: {problems}") from None


def _plain(value: Any) -> Any:
    import math

    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes)):
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value


def reference_sample(model: Any, features: Any, labels: Any, target: str | None,
                     rows: int = REFERENCE_ROWS) -> ReferenceSample | None:
    """A uniform sample of the training rows with the model's answers (and probabilities)
    on them, and the whole set's ranges and categories: what monitoring compares production
    traffic with. None (registration goes on) if the model cannot answer the sample."""
    import json

    import pandas as pd

    ranges: dict[str, list[float]] = {}
    categories: dict[str, list[str]] = {}
    for name in features.columns:
        column = features[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            categories[str(name)] = sorted({str(v) for v in column.dropna().unique()[:5000]})[:1000]
        else:
            finite = pd.to_numeric(column, errors="coerce")
            finite = finite[finite.abs() != float("inf")].dropna()
            if len(finite):
                ranges[str(name)] = [float(finite.min()), float(finite.max())]
    while rows >= 100:
        sample = features.sample(n=min(rows, len(features)), random_state=0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predictions = [_plain(v) for v in list(model.predict(sample))]
                probabilities, classes = None, None
                if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
                    probabilities = [[float(x) for x in row]
                                     for row in model.predict_proba(sample).tolist()]
                    classes = [_plain(c) for c in model.classes_]
        except Exception:  # noqa: BLE001 - a reference is for monitoring, never a refusal
            return None
        try:
            reference = ReferenceSample(
                rows_total=len(features),
                columns={str(c): [_plain(v) for v in sample[c].tolist()]
                         for c in sample.columns},
                target=target,
                labels=[_plain(v) for v in labels.loc[sample.index].tolist()]
                if labels is not None else None,
                predictions=predictions, probabilities=probabilities, classes=classes,
                ranges=ranges, categories=categories)
        except ValidationError:
            return None
        if len(json.dumps(reference.model_dump(mode="json"))) <= REFERENCE_BYTES:
            return reference
        rows //= 2
    return None


def pack(model_dir: Path, archive: Path) -> Path:
    """A gzip-compressed tar of ``model_dir``'s contents (``MLmodel`` at its root):
    regular files and directories only, as the control plane accepts."""
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for item in sorted(model_dir.rglob("*")):
            if item.is_symlink() or not (item.is_file() or item.is_dir()):
                raise InvalidRequest(f"the saved model holds {item.name!r}, which is not a "
                                     "regular file or directory; it cannot be uploaded")
            tar.add(item, arcname=str(item.relative_to(model_dir)), recursive=False)
    return archive


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
