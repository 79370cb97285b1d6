"""MLServer, the serving benchmark's peer: its environment, its model repository, its bodies.

MLServer 1.7 (Seldon's Open Inference Protocol server, "V2") with its scikit-learn runtime
cannot share Ferry's lock (it takes pandas 3.1), so it runs from a virtualenv of its own,
``.bench/mlserver-venv``, built here from ``mlserver/requirements.lock`` (hashes required)
with ``uv venv --python 3.11`` and ``uv pip install --require-hashes``; it is rebuilt when the
lock changes. It serves the very joblib file the plain FastAPI baseline loads, REST and
gRPC on loopback ports of their own, by default in one process (``parallel_workers: 0``):
its pool of inference worker processes (which needs uvloop < 0.22, pinned) was slower here
for single-row requests (691 req/s with 2 workers vs 1,063 in one process, a side check on
this 2-core machine); ``serving.py --mlserver-workers N`` measures it with a pool.

The V2 bodies: ``numpy`` (one FP64 tensor of shape [rows, columns], the default way to call
an MLServer scikit-learn model; the model gets an array) or ``pandas`` (one tensor per column
and ``content_type: pd``; the model gets a DataFrame with the column names, as in Ferry and
the plain app). gRPC messages are built from the same JSON by MLServer's own converters
(``mlserver/v2_grpc.py``, run with the venv's interpreter).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCK = HERE / "mlserver" / "requirements.lock"
TRANSLATOR = HERE / "mlserver" / "v2_grpc.py"
VENV = ROOT / ".bench" / "mlserver-venv"
INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
"""The Open Inference Protocol's unary predict call."""


def uv() -> str:
    """Ferry's locked uv (a dependency of the project), else one on PATH."""
    mine = Path(sys.executable).with_name("uv")
    if mine.exists():
        return str(mine)
    found = shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is needed to build MLServer's environment: run `make install`")
    return found


def python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path = VENV, lock: Path = LOCK) -> Path:
    """MLServer's virtualenv, built from ``lock`` unless it already holds exactly that lock.
    Returns its interpreter. Refuses a venv whose scikit-learn differs from this process's
    (the two sides must unpickle the same model)."""
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = venv / "ferry-lock.sha256"
    if not (python(venv).exists() and stamp.exists() and stamp.read_text() == digest):
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": os.environ.get("UV_PYTHON_DOWNLOADS", "never")}
        for cmd in ([uv(), "venv", "--quiet", "--python", "3.11", str(venv)],
                    [uv(), "pip", "install", "--quiet", "--python", str(python(venv)),
                     "--require-hashes", "-r", str(lock)]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"building MLServer's environment failed: {' '.join(cmd)}\n"
                                   f"{done.stderr[-2000:]}")
        stamp.write_text(digest)
    import sklearn

    theirs = subprocess.run([str(python(venv)), "-c", "import sklearn; print(sklearn.__version__)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if theirs != sklearn.__version__:
        raise RuntimeError(
            f"MLServer's environment has scikit-learn {theirs}, Ferry's {sklearn.__version__}: "
            f"pin {sklearn.__version__} in {LOCK.with_suffix('.in')} and recompile the lock")
    return python(venv)


def write_repository(repo: Path, model_file: Path, name: str, http_port: int, grpc_port: int,
                     metrics_port: int, workers: int = 0) -> Path:
    """An MLServer model repository serving ``model_file`` (a joblib dump) as ``name``;
    ``workers``: MLServer's ``parallel_workers`` (0: inference in the server's process)."""
    (repo / name).mkdir(parents=True, exist_ok=True)
    (repo / "settings.json").write_text(json.dumps({
        "parallel_workers": workers, "host": "127.0.0.1", "http_port": http_port,
        "grpc_port": grpc_port, "metrics_port": metrics_port, "debug": False,
    }))
    (repo / name / "model-settings.json").write_text(json.dumps({
        "name": name, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_file), "version": "v1"},
    }))
    return repo


def start(repo: Path, log: Path, venv: Path = VENV) -> subprocess.Popen[bytes]:
    """``mlserver start REPO`` (the caller waits for ``/v2/models/NAME/ready``)."""
    out = log.open("ab")
    return subprocess.Popen([str(venv / "bin" / "mlserver"), "start", str(repo)], cwd=repo,
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _plain(values: pd.Series) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values.tolist()]


def v2_request(frame: pd.DataFrame, inputs: str = "numpy") -> dict[str, Any]:
    """The Open Inference Protocol JSON request for ``frame``'s rows (see module doc)."""
    rows = len(frame)
    if inputs == "numpy":
        data = frame.to_numpy(dtype="float64").ravel().tolist()
        return {"inputs": [{"name": "input-0", "shape": [rows, frame.shape[1]],
                            "datatype": "FP64", "data": data}]}
    if inputs == "pandas":
        tensors = []
        for name in frame.columns:
            kind = frame[name].dtype.kind
            datatype = {"i": "INT64", "u": "INT64", "f": "FP64", "b": "BOOL"}.get(kind, "BYTES")
            tensors.append({"name": str(name), "shape": [rows], "datatype": datatype,
                            "data": _plain(frame[name])})
        return {"parameters": {"content_type": "pd"}, "inputs": tensors}
    raise ValueError(f"inputs must be 'numpy' or 'pandas', not {inputs!r}")


def grpc_message(request: dict[str, Any], model: str, venv: Path = VENV) -> bytes:
    """The serialized ``ModelInferRequest`` equal to the JSON ``request``."""
    return subprocess.run([str(python(venv)), str(TRANSLATOR), "encode", model],
                          input=json.dumps(request).encode(), capture_output=True,
                          check=True).stdout


def grpc_answer(response: bytes, venv: Path = VENV) -> dict[str, Any]:
    """A serialized ``ModelInferResponse`` as its JSON form."""
    out = subprocess.run([str(python(venv)), str(TRANSLATOR), "decode"], input=response,
                         capture_output=True, check=True).stdout
    return dict(json.loads(out))


def predictions(answer: dict[str, Any]) -> list[Any]:
    """The ``predict`` output of a V2 response (REST JSON or decoded gRPC)."""
    for output in answer.get("outputs", []):
        if output.get("name") == "predict":
            return list(output["data"])
    raise ValueError(f"no 'predict' output in {str(answer)[:300]}")
