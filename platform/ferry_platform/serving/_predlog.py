"""The prediction log's writer, inside the serving processes.

Every answered request (``FERRY_PREDICTION_LOG_SAMPLE`` of them; all by default) becomes
rows of the log (``ferry_platform.core.predlog`` has the layout). A prediction never waits
for it and never fails because of it: :meth:`PredictionLog.record` appends the request's
already-built values to a bounded in-memory queue and returns; a background thread drains
the queue every ``FERRY_PREDICTION_LOG_FLUSH_S`` and writes one Parquet file per
(model, release, hour) under ``FERRY_PREDICTION_LOG_URI`` (a local directory, or
``s3://...`` through pyarrow's filesystems, as the release store). When the queue is full,
or a write fails, the records are dropped and counted (``dropped``, exported as
``ferry_prediction_log_dropped_total``). A process that dies loses at most its queue:
every flushed file is complete (written under a temporary name, then renamed).

Configuration comes from the environment the runtime gives the serving processes
(``serve_env``): this module must not import the control plane's settings.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferry_platform.core import predlog as P  # noqa: N812 - the layout's names, short

log = logging.getLogger("ferry.predlog")


@dataclass(frozen=True)
class LogConfig:
    """Where and how much to log (``FERRY_*`` variables defined in the platform settings)."""

    uri: str = ""
    sample: float = 1.0
    queue_max: int = 100_000
    flush_s: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.uri) and self.sample > 0

    @staticmethod
    def env(settings: Any) -> dict[str, str]:
        """The variables serving processes read this from (``serve_env`` adds them)."""
        return {"FERRY_MONITORING": "true" if settings.monitoring else "false",
                "FERRY_PREDICTION_LOG_URI": str(settings.prediction_log_uri),
                "FERRY_PREDICTION_LOG_SAMPLE": str(settings.prediction_log_sample),
                "FERRY_PREDICTION_LOG_QUEUE": str(settings.prediction_log_queue),
                "FERRY_PREDICTION_LOG_FLUSH_S": str(settings.prediction_log_flush_s),
                "FERRY_METRICS_PUSH_S": str(settings.metrics_push_s)}

    @classmethod
    def from_env(cls, env: Callable[[str, str], str] | None = None) -> LogConfig:
        get = env or (lambda k, d: os.environ.get(k, d))

        def number(key: str, default: float) -> float:
            try:
                return float(get(key, str(default)))
            except ValueError:
                log.warning("%s is not a number; using %s", key, default)
                return default

        if get("FERRY_MONITORING", "true").strip().lower() in ("0", "false", "no", "off"):
            return cls(uri="")
        return cls(uri=get("FERRY_PREDICTION_LOG_URI", "").strip(),
                   sample=min(1.0, max(0.0, number("FERRY_PREDICTION_LOG_SAMPLE", 1.0))),
                   queue_max=max(1, int(number("FERRY_PREDICTION_LOG_QUEUE", 100_000))),
                   flush_s=max(0.05, number("FERRY_PREDICTION_LOG_FLUSH_S", 1.0)))


@dataclass(frozen=True)
class ReleaseInfo:
    """What every row of one release shares: its identity and its inputs' types."""

    model: str
    version: int
    release_id: str
    inputs: tuple[tuple[str, str], ...]  # (column, signature type), in signature order


@dataclass
class Entry:
    """One request as the replica answered it (the values it already had: nothing is
    copied or converted on the request's path)."""

    release: ReleaseInfo
    ts: float
    request_id: str
    deployment: str
    arm: str
    status: int
    latency_ms: float
    rows: int = 1
    columns: dict[str, Sequence[Any]] | None = None  # model inputs (after the feature join)
    predictions: Sequence[Any] | None = None
    probabilities: Any = None  # rows x classes
    classes: Sequence[Any] | None = None
    code: str | None = None
    problems: list[tuple[str, str]] | None = None
    lookup_misses: list[list[str]] | None = None


@dataclass
class PredictionLog:
    """A bounded queue and its flusher (one per serving process; see :func:`shared`)."""

    config: LogConfig
    written: int = 0
    dropped: int = 0
    files: int = 0
    _queue: deque[Entry] = field(default_factory=deque)
    _rows_in: int = 0  # rows queued, ever (written by the request's thread only)
    _rows_out: int = 0  # rows taken off the queue, ever (by the flushing thread only)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _flushing: threading.Lock = field(default_factory=threading.Lock)
    _fs: Any = None
    _root: str = ""
    _seq: int = 0
    _tag: str = field(default_factory=lambda: f"{socket.gethostname()[:40]}-{os.getpid()}-"
                                              f"{uuid.uuid4().hex[:8]}")
    _last_warning: float = 0.0
    write: Callable[[str, Any, dict[bytes, bytes]], None] | None = None

    # -- the request's side: never blocks, never raises -------------------------------------
    def sampled(self) -> bool:
        s = self.config.sample
        return s >= 1.0 or (s > 0 and random.random() < s)

    def record(self, entry: Entry) -> None:
        try:
            if self._rows_in - self._rows_out + entry.rows > self.config.queue_max:
                self.dropped += entry.rows
                return
            self._queue.append(entry)
            self._rows_in += entry.rows
            if self._thread is None:
                self._start()
        except Exception:  # noqa: BLE001 - logging must never fail a prediction
            self.dropped += entry.rows

    def _start(self) -> None:
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ferry-predlog",
                                                daemon=True)
                self._thread.start()
                try:
                    atexit.register(self.close)
                except RuntimeError:  # the interpreter is shutting down
                    pass

    # -- the background side ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.config.flush_s):
            self.flush()

    def flush(self) -> int:
        """Write what is queued now (one file per model, release and hour); rows written."""
        with self._flushing:
            entries: list[Entry] = []
            while self._queue:
                try:
                    entries.append(self._queue.popleft())
                except IndexError:
                    break
            self._rows_out += sum(e.rows for e in entries)
            if not entries:
                return 0
            groups: dict[tuple[str, str, str], list[Entry]] = {}
            for e in entries:
                key = (e.release.model, e.release.release_id, P.hour_of(e.ts))
                groups.setdefault(key, []).append(e)
            done = 0
            for (model, release_id, hour), group in groups.items():
                n = sum(e.rows for e in group)
                try:
                    table, metadata = to_table(group)
                    self._write(P.partition(model, release_id, hour), table, metadata)
                    done += n
                    self.files += 1
                except Exception as e:  # noqa: BLE001 - counted; the next flush goes on
                    self.dropped += n
                    now = time.monotonic()
                    if now - self._last_warning > 60:
                        self._last_warning = now
                        log.warning("could not write %d prediction log rows of %s to %s: %s",
                                    n, release_id, self.config.uri, e)
            self.written += done
            return done

    def _write(self, directory: str, table: Any, metadata: dict[bytes, bytes]) -> None:
        if self.write is not None:  # a test's seam
            self.write(directory, table, metadata)
            return
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        if self._fs is None:
            self._fs, self._root = pafs.FileSystem.from_uri(self.config.uri)
        self._seq += 1
        name = f"{int(time.time() * 1000)}-{self._tag}-{self._seq}{P.SUFFIX}"
        folder = P.join(self._root, directory)
        table = table.replace_schema_metadata(metadata)
        local = self._fs.type_name == "local"
        if local:
            self._fs.create_dir(folder, recursive=True)
        target = P.join(folder, name)
        path = P.join(folder, P.TEMP_PREFIX + name) if local else target
        pq.write_table(table, path, filesystem=self._fs, compression="zstd")
        if local:
            self._fs.move(path, target)

    def close(self) -> None:
        """Flush what is left and stop (at a replica's shutdown and at exit)."""
        self._stop.set()
        try:
            self.flush()
        except Exception as e:  # noqa: BLE001 - shutting down
            log.warning("last flush of the prediction log failed: %s", e)

    def stats(self) -> dict[str, int]:
        return {"written": self.written, "dropped": self.dropped,
                "queued": self._rows_in - self._rows_out}


def _column(values: list[Any]) -> Any:
    """An Arrow array of JSON-ish values; mixed or nested values become JSON text."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values],
                        type=pa.string())


def _input(values: list[Any], kind: str) -> Any:
    import pyarrow as pa

    arrow = P.INPUT_TYPES.get(kind)
    if arrow is None:
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values],
                        type=pa.string())
    try:
        return pa.array(values, type=getattr(pa, arrow)())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError):
        # str(), with anything UTF-8 cannot hold escaped: one odd value never drops a file
        return pa.array([None if v is None else
                         str(v).encode("utf-8", "backslashreplace").decode() for v in values],
                        type=pa.string())


def to_table(entries: list[Entry]) -> tuple[Any, dict[bytes, bytes]]:
    """The rows of ``entries`` (one release, one hour) as an Arrow table, and its metadata."""
    import pyarrow as pa

    release = entries[0].release
    cols: dict[str, list[Any]] = {k: [] for k in P.ENVELOPE}
    inputs: dict[str, list[Any]] = {name: [] for name, _ in release.inputs}
    classes: list[Any] | None = None
    for e in entries:
        n = e.rows
        cols[P.REQUEST_ID].extend([e.request_id] * n)
        cols[P.ROW].extend(range(n))
        cols[P.TS].extend([int(e.ts * 1_000_000)] * n)
        cols[P.DEPLOYMENT].extend([e.deployment] * n)
        cols[P.MODEL].extend([release.model] * n)
        cols[P.VERSION].extend([release.version] * n)
        cols[P.RELEASE_ID].extend([release.release_id] * n)
        cols[P.ARM].extend([e.arm] * n)
        cols[P.STATUS].extend([e.status] * n)
        cols[P.CODE].extend([e.code] * n)
        cols[P.LATENCY_MS].extend([e.latency_ms] * n)
        preds = list(e.predictions) if e.predictions is not None else [None] * n
        cols[P.PREDICTION].extend(preds if len(preds) == n else [None] * n)
        proba = e.probabilities
        if proba is not None and e.classes is not None:
            classes = classes or [_plain(c) for c in e.classes]
            rows = proba.tolist() if hasattr(proba, "tolist") else list(proba)
            cols[P.PROBABILITIES].extend(rows if len(rows) == n else [None] * n)
        else:
            cols[P.PROBABILITIES].extend([None] * n)
        problems = json.dumps(e.problems) if e.problems else None
        cols[P.PROBLEMS].extend([problems] * n)
        misses = e.lookup_misses
        cols[P.LOOKUP_MISSES].extend(misses if misses is not None and len(misses) == n
                                     else [None] * n)
        for name, values in inputs.items():
            given = e.columns.get(name) if e.columns is not None else None
            values.extend(list(given) if given is not None and len(given) == n
                          else [None] * n)
    arrays = {
        P.REQUEST_ID: pa.array(cols[P.REQUEST_ID], pa.string()),
        P.ROW: pa.array(cols[P.ROW], pa.int32()),
        P.TS: pa.array(cols[P.TS], pa.timestamp("us", tz="UTC")),
        P.DEPLOYMENT: pa.array(cols[P.DEPLOYMENT], pa.string()),
        P.MODEL: pa.array(cols[P.MODEL], pa.string()),
        P.VERSION: pa.array(cols[P.VERSION], pa.int32()),
        P.RELEASE_ID: pa.array(cols[P.RELEASE_ID], pa.string()),
        P.ARM: pa.array(cols[P.ARM], pa.string()),
        P.STATUS: pa.array(cols[P.STATUS], pa.int16()),
        P.CODE: pa.array(cols[P.CODE], pa.string()),
        P.LATENCY_MS: pa.array(cols[P.LATENCY_MS], pa.float32()),
        P.PREDICTION: _column([_plain(v) for v in cols[P.PREDICTION]]),
        P.PROBABILITIES: pa.array(cols[P.PROBABILITIES], pa.list_(pa.float64())),
        P.PROBLEMS: pa.array(cols[P.PROBLEMS], pa.string()),
        P.LOOKUP_MISSES: pa.array(cols[P.LOOKUP_MISSES], pa.list_(pa.string())),
    }
    kinds = dict(release.inputs)
    for name, values in inputs.items():
        arrays[P.input_column(name)] = _input(values, kinds[name])
    metadata = {P.FORMAT_METADATA.encode(): str(P.PREDLOG_FORMAT).encode()}
    if classes is not None:
        metadata[P.CLASSES_METADATA.encode()] = json.dumps(classes).encode()
    return pa.table(arrays), metadata


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes, bool, int, float)):
        try:
            return item()
        except (TypeError, ValueError):
            return str(value)
    return value


_SHARED: PredictionLog | None = None
_SHARED_GUARD = threading.Lock()


def shared() -> PredictionLog:
    """This process's log (the router and a release it answers in-process share it)."""
    global _SHARED
    if _SHARED is None:
        with _SHARED_GUARD:
            if _SHARED is None:
                _SHARED = PredictionLog(LogConfig.from_env())
    return _SHARED
