"""What runs inside the sandbox for an evaluation, and nothing more: load one model version
from its artifacts and answer every frame it is given.

No labels, no metrics: the control plane scores the answers, so a model can neither see
the truth nor grade itself, and candidate and champion run in separate processes, so
neither can touch the other. Imports stay light (this module is imported in a fresh
process); MLflow is imported only to load the model.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from typing import Any

TARGET = "ferry_platform.evaluation._predict:predict"


def predict(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload``: ``archive`` (the model directory as a tar), ``frames`` (name -> frame),
    ``proba`` (ask for class probabilities). Returns ``{"classes", "frames": {name:
    {"labels", "proba", "error"}}}``, or ``{"load_error"}`` if the model does not load."""
    with tempfile.TemporaryDirectory(prefix="ferry-model-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(payload["archive"])) as tar:
            tar.extractall(tmp, filter="data")
        try:
            import mlflow.pyfunc

            model = mlflow.pyfunc.load_model(tmp)
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - the model's own failure, reported
            return {"load_error": _describe(e)}
        try:
            raw = model.get_raw_model()
        except Exception:  # noqa: BLE001 - not every flavour exposes its model
            raw = None
        proba = getattr(raw, "predict_proba", None) if payload.get("proba") else None
        classes = getattr(raw, "classes_", None)
        frames = {str(name): _answer(model.predict, proba, frame)
                  for name, frame in payload["frames"].items()}
    return {"classes": None if classes is None else [_plain(c) for c in list(classes)],
            "frames": frames}


def _answer(predict: Any, predict_proba: Any, frame: Any) -> dict[str, Any]:
    import numpy as np

    try:
        labels = np.asarray(predict(frame))
        if labels.ndim > 1:
            labels = labels.reshape(len(labels), -1)[:, 0]
        out: dict[str, Any] = {"labels": [_plain(v) for v in labels.tolist()],
                               "proba": None, "error": None}
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - a model that cannot predict is a finding
        return {"labels": None, "proba": None, "error": _describe(e)}
    if predict_proba is not None:
        try:
            out["proba"] = np.asarray(predict_proba(frame), dtype="float64").tolist()
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - labels still count
            out["proba"] = None
    return out


def _plain(value: Any) -> Any:
    """A label as JSON: numbers, strings, booleans and None as they are; anything else as
    its text."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]
