"""Batch scoring on Ray Data: a whole table through one release, in Ray workers.

The control plane only lists the input files, reads their schema and drives the pipeline;
reading, the point-in-time feature join, the model and writing run in Ray tasks and in a
pool of scorer actors (``map_batches`` with an actor pool), each of which loads the
release's Bento exactly as a Serve replica does (:func:`load_release`) and builds the
model's frame with the same data plane. Every output row carries the release id and the
lineage of the run.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ferry_contract import ColumnSpec, Conflict, InvalidInput, InvalidRequest, NotFound

log = logging.getLogger("ferry.batch")

PREDICTION = "prediction"
LINEAGE_COLUMNS = ("release_id", "model", "model_version", "as_of", "source_digest")
"""Written on every output row, after the prediction."""
ENTITY_TIMESTAMP = "event_timestamp"
_LINEAGE_TYPES = {"release_id": "string", "model": "string", "model_version": "int64",
                  "as_of": "string", "source_digest": "string"}
# Non-secret settings the Ray workers need to reach the same object store (credentials
# come from the workers' own environment or role, never through Ray's runtime_env).
_PASSED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION")


@dataclass(frozen=True)
class SourceInfo:
    """What the control plane learns of a batch input without reading its rows."""

    files: list[str]
    format: str  # "parquet" or "csv"
    columns: list[str]
    types: dict[str, str]  # column -> Arrow type name (of the first file)
    rows: int | None  # from Parquet footers (None for CSV)
    digest: str  # sha256 over each file's path, size and modification time / ETag


@dataclass(frozen=True)
class BatchSpec:
    """One batch scoring run, as the scorer actors receive it (plain data)."""

    release: dict[str, Any]  # the serving spec: manifest, bentoml_home
    source: SourceInfo
    dest: str
    as_of: datetime | None
    keep: list[str] = field(default_factory=list)  # input columns carried to the output
    features: dict[str, Any] | None = None  # {"joiner", "config", "refs", "entity_keys"}
    actors: int = 2
    num_cpus: float = 0.5  # per scorer actor
    io_cpus: float = 0.25  # per read or write task
    batch_size: int = 50_000


def _filesystem(path: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) of a local path or an ``s3://`` URI."""
    import pyarrow.fs as pafs

    if path.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        kwargs: dict[str, Any] = {}
        if endpoint:
            kwargs["endpoint_override"] = endpoint
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        return pafs.S3FileSystem(**kwargs), path.removeprefix("s3://")
    if "://" in path and not path.startswith("file://"):
        raise InvalidRequest(f"{path!r}: batch input and output are local paths or s3:// "
                             "URIs (e.g. s3://bucket/customers/*.parquet)")
    return pafs.LocalFileSystem(), os.path.abspath(path.removeprefix("file://"))


def check_dest(dest: str) -> None:
    """Refuse an output location that is a file or already holds files (409)."""
    import pyarrow.fs as pafs

    fs, path = _filesystem(dest)
    try:
        info = fs.get_file_info(path)
        held = info.type == pafs.FileType.Directory and bool(
            fs.get_file_info(pafs.FileSelector(path, recursive=False)))
    except OSError as e:
        raise InvalidRequest(f"cannot use dest {dest!r}: {e}") from e
    if info.type == pafs.FileType.File:
        raise Conflict(f"dest {dest!r} is a file; give a directory for the output")
    if held:
        raise Conflict(f"dest {dest!r} already holds files; give an empty or new directory "
                       "(the scores of two runs never mix)", details={"dest": dest})


def inspect_source(source: str,
                   check: Callable[[list[str]], None] | None = None) -> SourceInfo:
    """List ``source`` (a file, a directory, or a glob like ``dir/*.parquet``; local or
    S3), name its format and columns and digest it; 4xx naming the value if it has no file.
    ``check`` sees the files listed before any is read (and may refuse them)."""
    import fnmatch

    import pyarrow.fs as pafs

    fs, path = _filesystem(source)
    prefix = "s3://" if source.startswith("s3://") else ""
    pattern = None
    if any(c in path for c in "*?["):
        base, _, pattern = path.rpartition("/")
        path = base
    try:
        info = fs.get_file_info(path)
    except OSError as e:
        raise InvalidRequest(f"cannot read batch source {source!r}: {e}") from e
    if info.type == pafs.FileType.File and pattern is None:
        infos = [info]
    elif info.type == pafs.FileType.Directory:
        try:
            listed = fs.get_file_info(pafs.FileSelector(path, recursive=pattern is None))
        except OSError as e:
            raise InvalidRequest(f"cannot list batch source {source!r}: {e}") from e
        infos = [i for i in listed
                 if i.type == pafs.FileType.File and not i.base_name.startswith(("_", "."))
                 and (pattern is None or fnmatch.fnmatch(i.base_name, pattern))]
    else:
        infos = []
    if not infos:
        raise NotFound(f"batch source {source!r} holds no file; give a Parquet or CSV file, "
                       "a directory of them, or a glob such as s3://bucket/customers/*.parquet")
    infos.sort(key=lambda i: i.path)
    kinds = {os.path.splitext(i.base_name)[1].lower() for i in infos}
    if kinds <= {".parquet", ".pq"}:
        fmt = "parquet"
    elif kinds == {".csv"}:
        fmt = "csv"
    else:
        shown = sorted(kinds)[:8] + (["…"] if len(kinds) > 8 else [])
        raise InvalidRequest(f"batch source {source!r} mixes or holds unsupported files "
                             f"({shown}); give only .parquet or only .csv files")
    files = [prefix + i.path for i in infos]
    if check is not None:
        check(files)
    digest = hashlib.sha256()
    for i in infos:
        digest.update(f"{i.path}\0{i.size}\0{i.mtime_ns}\n".encode())
    import pyarrow as pa

    try:
        schema, rows = _schema_and_rows(fs, infos, fmt)
    except (OSError, pa.ArrowException) as e:  # not Parquet, an empty CSV, unreadable
        raise InvalidRequest(f"batch source {source!r} cannot be read as {fmt}: {e}; give "
                             f"readable .{fmt} files with a header row of column names"
                             if fmt == "csv" else
                             f"batch source {source!r} cannot be read as {fmt}: {e}; give "
                             "readable Parquet files") from e
    types = {f.name: str(f.type) for f in schema if not f.name.startswith("__index_level_")}
    return SourceInfo(files, fmt, list(types), types, rows, f"sha256:{digest.hexdigest()}")


def _schema_and_rows(fs: Any, infos: list[Any], fmt: str) -> tuple[Any, int | None]:
    """The first file's Arrow schema, and the rows of all (Parquet: from the footers)."""
    rows: int | None = None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows = 0
        for n, i in enumerate(infos):
            meta = pq.ParquetFile(fs.open_input_file(i.path)).metadata
            rows += meta.num_rows
            if n == 0:
                schema = meta.schema.to_arrow_schema()
    else:
        import pyarrow.csv as pacsv

        with fs.open_input_stream(infos[0].path) as f:
            schema = pacsv.open_csv(f).schema
    return schema, rows


_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
           "boolean": "bool"}
_NUMERIC = ("int", "uint", "float", "double", "decimal", "bool", "null")


def model_frame(signature: list[ColumnSpec], frame: Any) -> Any:
    """The model's input frame from a batch: the signature's columns, in its order, with
    the dtypes a Serve replica's data plane gives them (the same model sees the same
    values). A null in a required column is refused, naming the column and row."""
    import pandas as pd

    names = [spec.name for spec in signature]
    if all(str(frame[s.name].dtype) == _DTYPES.get(s.type) for s in signature) and \
            not frame[names].isna().to_numpy().any():
        return frame[names]  # typed already, no null: what the data plane would build
    data: dict[str, Any] = {}
    for spec in signature:
        column = frame[spec.name]
        nulls = column.isna()
        if nulls.any() and spec.required:
            row = int(nulls.to_numpy().argmax())
            raise InvalidInput(f"column {spec.name!r} is null in row {row} of a batch; the "
                               f"model requires it ({spec.type})",
                               details={"column": spec.name, "row": row})
        dtype = _DTYPES.get(spec.type)
        if dtype is None:
            data[spec.name] = column.to_numpy()
        elif nulls.any():  # what the data plane does with nulls: NaN in a float column
            data[spec.name] = column.to_numpy(dtype="float64", na_value=float("nan"))
        else:
            data[spec.name] = column.to_numpy(dtype=dtype)
    return pd.DataFrame(data)


def type_problems(signature: list[ColumnSpec], types: dict[str, str]) -> list[str]:
    """Input columns whose Arrow type cannot hold the signature's type."""
    problems = []
    for spec in signature:
        arrow = types.get(spec.name)
        if arrow is None:
            continue
        numeric = arrow.startswith(_NUMERIC)
        if spec.type in _DTYPES and not numeric:
            problems.append(f"column {spec.name!r} is {arrow} in the input; the model expects "
                            f"{spec.type}")
        elif spec.type == "string" and numeric and arrow != "null":
            problems.append(f"column {spec.name!r} is {arrow} in the input; the model expects "
                            "string")
    return problems


class _Progress:
    """Rows scored so far, counted by the scorer actors (a Ray actor, no CPU)."""

    def __init__(self) -> None:
        self.rows = 0
        self.by_node: dict[str, int] = {}
        self.first_at: float | None = None  # wall clock of the first batch scored

    def add(self, n: int, node: str = "") -> None:
        if self.first_at is None:
            self.first_at = time.time()
        self.rows += n
        self.by_node[node] = self.by_node.get(node, 0) + n

    def first(self) -> float | None:
        return self.first_at

    def get(self) -> int:
        return self.rows

    def nodes(self) -> dict[str, int]:
        return dict(self.by_node)


class Scorer:
    """One scorer actor: the release's Bento loaded once, then batch after batch."""

    def __init__(self, spec: BatchSpec, progress: Any = None, *,
                 loaded: tuple[Any, Any] | None = None) -> None:
        """``loaded``: the (manifest, service instance) to score with instead of loading
        the Bento ``spec`` names (tests pass a service whose ``predict_frame`` is a model's
        ``predict``, as a Bento's is)."""
        from ferry_platform.serving._replica import load_release

        manifest: Any
        manifest, service = loaded if loaded is not None else load_release(spec.release)
        self.manifest = manifest
        self.predict_frame = service.predict_frame
        self.spec = spec
        self.progress = progress
        import ray

        self.node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
        self.joiner = None
        if spec.features:
            module, _, name = spec.features["joiner"].partition(":")
            self.joiner = getattr(importlib.import_module(module), name)(
                **spec.features["config"])
        self.lineage = {"release_id": self.manifest.release_id, "model": self.manifest.model,
                        "model_version": self.manifest.version,
                        "as_of": spec.as_of.isoformat() if spec.as_of else None,
                        "source_digest": spec.source.digest}
        import pyarrow as pa

        pa.repeat(pa.scalar("", pa.string()), 1)  # Arrow's kernels initialise here, not in a batch

    def __call__(self, batch: Any) -> Any:
        """Score one batch: an Arrow table (what Ray Data hands the actors) gives an Arrow
        table, a pandas frame gives a pandas frame; the input's columns, then the
        prediction, then the lineage columns."""
        import pyarrow as pa

        if isinstance(batch, pa.Table):
            if self.joiner is None:
                out = self._score_arrow(batch)
                self._count(out.num_rows)
                return out
            batch = batch.to_pandas()  # the feature join works on pandas frames
        return self._score_pandas(batch)

    def _score_arrow(self, table: Any) -> Any:
        """Only the model's columns become a pandas frame; the carried columns stay Arrow
        buffers and the lineage columns are constants, not Python objects per row."""
        import pyarrow as pa

        names = [spec.name for spec in self.manifest.signature]
        predictions = self.predict_frame(
            model_frame(self.manifest.signature, table.select(names).to_pandas()))
        columns = [*table.columns, _prediction_array(predictions)]
        fields = [*table.schema.names, PREDICTION]
        for key, value in self.lineage.items():
            kind = pa.type_for_alias(_LINEAGE_TYPES[key])
            columns.append(pa.repeat(pa.scalar(value, kind), table.num_rows))
            fields.append(key)
        return pa.Table.from_arrays(columns, names=fields)

    def _score_pandas(self, batch: Any) -> Any:
        import pandas as pd

        frame = batch
        if self.joiner is not None:
            assert self.spec.features is not None
            entities = frame.reset_index(drop=True)
            if self.spec.as_of is not None:
                entities[ENTITY_TIMESTAMP] = pd.Timestamp(self.spec.as_of)
            frame = self.joiner.join(self.spec.features["refs"], entities)
        predictions = self.predict_frame(model_frame(self.manifest.signature, frame))
        out = frame.copy(deep=False)  # new columns only: the batch's own are not copied
        out.index = pd.RangeIndex(len(out))
        out[PREDICTION] = list(predictions) if getattr(predictions, "ndim", 1) > 1 \
            else predictions
        for key, value in self.lineage.items():
            out[key] = value
        self._count(len(out))
        return out

    def _count(self, rows: int) -> None:
        if self.progress is not None:
            self.progress.add.remote(rows, self.node)


def _prediction_array(predictions: Any) -> Any:
    """The prediction column as Arrow: one value per row, or a list per row for a model
    with several outputs (as the pandas path writes them)."""
    import numpy as np
    import pyarrow as pa

    values = np.asarray(predictions)
    if values.ndim > 1:
        return pa.array(list(values))
    return pa.array(values)


def _worker_env() -> dict[str, str]:
    return {k: os.environ[k] for k in _PASSED_ENV if os.environ.get(k)}


def fit_actor_cpus(wanted: float, actors: int, io_cpus: float, free: float) -> float:
    """The CPUs each scorer actor reserves: ``wanted``, or less so that all ``actors`` and
    one read and one write task fit in the ``free`` CPUs (what Serve's replicas, routers
    and proxies leave). A scorer that cannot be placed never scores: on a 2-CPU node
    beside a deployment, two scorers asking 0.9 CPU each left one pending for the whole
    run. Ray's CPUs are logical: the scorers still use every core they find idle.
    Never below 0.01 (Ray's actors need a positive request to count as CPU work)."""
    room = (free - 2 * io_cpus) / max(actors, 1)
    return max(0.01, min(wanted, math.floor(room * 100) / 100))


def read_blocks(spec: BatchSpec) -> int | None:
    """Blocks to read the source in: one per batch (at least one per file), when the
    Parquet footers gave the row count; Ray Data's own choice otherwise (CSV)."""
    rows = spec.source.rows
    if not rows:
        return None
    return max(len(spec.source.files), math.ceil(rows / spec.batch_size))


def _tune(context: Any, free: float) -> None:
    """The Dataset's own execution settings (its copy of the context, not the process's):
    no progress bars in a server's log, and Ray Data plans with the CPUs that are free
    when the job starts (by default it counts the whole cluster, Serve's share included,
    and launches tasks that then wait)."""
    from ray.data import ExecutionResources

    context.enable_progress_bars = False
    if free > 0:
        context.execution_options.resource_limits = ExecutionResources.for_limits(cpu=free)


def run_batch(spec: BatchSpec, progress: Callable[[int, int | None], None] | None = None,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Score ``spec.source`` into Parquet files under ``spec.dest`` on the connected Ray.

    ``progress(rows_done, rows_total)`` is called about once a second while it runs.
    Returns the run's summary (rows, files written, seconds, rows scored on each Ray
    node, CPUs each scorer reserved, seconds to the first batch scored)."""
    import ray

    if not ray.is_initialized():
        raise RuntimeError("Ray is not connected in this process")
    started = time.perf_counter()
    started_at = time.time()
    runtime_env = {"env_vars": {**(env or {}), **_worker_env()}}
    free = float(ray.available_resources().get("CPU", 0.0))
    actor_cpus = fit_actor_cpus(spec.num_cpus, spec.actors, spec.io_cpus, free)
    if actor_cpus < spec.num_cpus:
        log.info("batch scorers reserve %.2f CPU each, not %.2f: %.2f CPUs are free beside "
                 "what else runs (Serve replicas, routers)", actor_cpus, spec.num_cpus, free)
    counter: Any = ray.remote(_Progress).options(num_cpus=0, runtime_env=runtime_env).remote()
    src = spec.source
    # Every stage asks for a fraction of a CPU: the scorers must never take the whole
    # cluster from the read and write tasks (nor from the Serve replicas beside them).
    read = ray.data.read_parquet if src.format == "parquet" else ray.data.read_csv
    # Ray Data's V2 Parquet reader lists files in a task that always asks for a whole CPU:
    # beside the scorers and Serve's replicas on a 2-CPU node it never gets one (measured:
    # the job waited 9 minutes). V1 reads with the fractional CPU given here. The reader
    # is chosen from the process's context when the read is planned.
    ray.data.DataContext.get_current().use_datasource_v2 = False
    # One block per batch (not Ray Data's minimum of 200 blocks: 5,000-row pieces here),
    # and at most as many read and write tasks at once as there are scorers: on a small
    # node every concurrent task is a Python worker to start beside the scorers' own.
    ds = read(src.files, num_cpus=spec.io_cpus, runtime_env=runtime_env,
              concurrency=spec.actors, override_num_blocks=read_blocks(spec))
    # Arrow batches: the scorer makes a pandas frame of the model's columns only; the
    # carried columns go from reader to writer as Arrow buffers. Ray Data spreads the
    # actors over the nodes by default (DataContext.scheduling_strategy "SPREAD"): a
    # cluster's nodes all score.
    ds = ds.map_batches(Scorer, fn_constructor_kwargs={"spec": spec, "progress": counter},
                        batch_format="pyarrow", batch_size=spec.batch_size,
                        compute=ray.data.ActorPoolStrategy(size=spec.actors),
                        num_cpus=actor_cpus,
                        runtime_env=runtime_env)
    _tune(ds.context, free)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            if progress is not None:
                try:
                    progress(int(ray.get(counter.get.remote(), timeout=5)), src.rows)
                except Exception:  # noqa: BLE001 - progress is advisory
                    pass

    watcher = threading.Thread(target=watch, daemon=True, name="ferry-batch-progress")
    watcher.start()
    try:
        ds.write_parquet(spec.dest, concurrency=spec.actors,
                         ray_remote_args={"num_cpus": spec.io_cpus, "runtime_env": runtime_env})
    finally:
        stop.set()
        watcher.join(timeout=5)
    log.info("batch pipeline stats (Ray Data):\n%s", ds.stats())
    rows = int(ray.get(counter.get.remote()))
    by_node = dict(ray.get(counter.nodes.remote()))
    first_at = ray.get(counter.first.remote())
    ray.kill(counter)
    if progress is not None:
        progress(rows, src.rows)
    seconds = time.perf_counter() - started
    fs, path = _filesystem(spec.dest)
    import pyarrow.fs as pafs

    written = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))
                     if i.type == pafs.FileType.File and i.base_name.endswith(".parquet"))
    return {"rows": rows, "files": len(written), "seconds": round(seconds, 3),
            "rows_by_node": by_node, "scorer_cpus": actor_cpus,
            # pipeline start to the first batch scored: actor start-up and Bento loads
            "first_batch_s": round(first_at - started_at, 3) if first_at else None,
            "rows_per_s": round(rows / seconds, 1) if seconds else None}


def lineage_file(dest: str, lineage: dict[str, Any]) -> None:
    """Write ``_ferry_lineage.json`` beside the output files (Parquet readers skip names
    starting with ``_``)."""
    fs, path = _filesystem(dest)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/_ferry_lineage.json") as f:
        f.write(json.dumps(lineage, indent=2, default=str).encode())
