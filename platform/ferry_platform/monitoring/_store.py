"""Files of the monitoring capability: the prediction log (read here, written by the
serving processes), outcomes, and each release's reference. A local directory or an
``s3://`` URI, through pyarrow's filesystems (what the release store's URIs name)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ferry_platform.core import predlog as P  # noqa: N812 - the layout's names, short


def _filesystem(uri: str) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(uri)
    return fs, root.rstrip("/")


def _listing(fs: Any, path: str) -> list[Any]:
    import pyarrow.fs as pafs

    try:
        return list(fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))
    except (FileNotFoundError, OSError):
        return []


def _value(name: str) -> str:
    return name.rsplit("/", 1)[-1].split("=", 1)[-1]


class LogStore:
    """The prediction log, read by the monitoring job (``FERRY_PREDICTION_LOG_URI``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._fs: Any = None
        self._root = ""

    def _open(self) -> tuple[Any, str]:
        if self._fs is None:
            self._fs, self._root = _filesystem(self.uri)
        return self._fs, self._root

    def releases(self, model: str) -> list[str]:
        fs, root = self._open()
        return sorted(_value(i.path) for i in _listing(fs, P.join(root, f"model={model}"))
                      if i.type.name == "Directory")

    def files(self, models: Iterable[str], start: datetime, end: datetime,
              releases: Iterable[str] | None = None) -> list[str]:
        """The log files of ``models`` (and only ``releases``, if given) whose hour
        overlaps [start, end), oldest hour first."""
        import pyarrow.fs as pafs

        fs, root = self._open()
        wanted = set(releases) if releases is not None else None
        first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        out: list[tuple[str, str]] = []
        for model in sorted(set(models)):
            for release in self.releases(model):
                if wanted is not None and release not in wanted:
                    continue
                base = P.join(root, f"model={model}", f"release={release}")
                for hour_dir in _listing(fs, base):
                    hour = _value(hour_dir.path)
                    try:
                        at = P.hour_start(hour)
                    except ValueError:
                        continue
                    if at < first or at >= end:
                        continue
                    for f in _listing(fs, hour_dir.path):
                        name = f.path.rsplit("/", 1)[-1]
                        if f.type == pafs.FileType.File and name.endswith(P.SUFFIX) \
                                and not name.startswith(P.TEMP_PREFIX):
                            out.append((hour, f.path))
        return [p for _, p in sorted(out)]

    def written_since(self, models: Iterable[str], since: datetime) -> bool:
        """Whether any log file of ``models`` was written after ``since``."""
        import pyarrow.fs as pafs

        fs, root = self._open()
        hours = {since.astimezone(UTC).strftime(P.HOUR_FORMAT),
                 datetime.now(UTC).strftime(P.HOUR_FORMAT)}
        for model in set(models):
            for release in self.releases(model):
                for hour in hours:
                    base = P.join(root, f"model={model}", f"release={release}", f"hour={hour}")
                    for f in _listing(fs, base):
                        if f.type == pafs.FileType.File and f.mtime is not None and \
                                f.mtime.astimezone(UTC) >= since:
                            return True
        return False

    def read(self, files: Sequence[str], *, columns: Sequence[str] | None = None,
             deployment: str | None = None, start: datetime | None = None,
             end: datetime | None = None) -> Any:
        """The rows of ``files`` (an Arrow table; schemas unified), of ``deployment`` in
        [start, end) when given."""
        return read_files(self.uri, files, columns=columns, deployment=deployment,
                          start=start, end=end)

    def prune(self, before: datetime) -> int:
        """Delete every hour partition older than ``before`` (retention); how many."""
        fs, root = self._open()
        gone = 0
        for model_dir in _listing(fs, root):
            if not model_dir.base_name.startswith("model="):
                continue
            for release_dir in _listing(fs, model_dir.path):
                for hour_dir in _listing(fs, release_dir.path):
                    try:
                        at = P.hour_start(_value(hour_dir.path))
                    except ValueError:
                        continue
                    if at + timedelta(hours=1) <= before:
                        fs.delete_dir(hour_dir.path)
                        gone += 1
        return gone

    def bytes_used(self) -> int:
        import pyarrow.fs as pafs

        fs, root = self._open()
        try:
            infos = fs.get_file_info(pafs.FileSelector(root, recursive=True,
                                                       allow_not_found=True))
        except (FileNotFoundError, OSError):
            return 0
        return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)


def read_files(uri: str, files: Sequence[str], *, columns: Sequence[str] | None = None,
               deployment: str | None = None, start: datetime | None = None,
               end: datetime | None = None) -> Any:
    """Module-level so Ray tasks can run it where the files are."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fs, _ = _filesystem(uri)
    tables = []
    for path in files:
        try:
            schema = pq.read_schema(path, filesystem=fs)
            cols = [c for c in columns if c in schema.names] if columns is not None else None
            table = pq.read_table(path, filesystem=fs, columns=cols)
        except (OSError, pa.ArrowInvalid):  # deleted by retention meanwhile, or unreadable
            continue
        meta = schema.metadata or {}
        classes = meta.get(P.CLASSES_METADATA.encode())
        if classes is not None and (columns is None or "classes" in (columns or ())):
            table = table.append_column("classes", pa.array([classes.decode()] * len(table),
                                                            pa.string()))
        mask = None
        if deployment is not None and P.DEPLOYMENT in table.column_names:
            mask = pc.equal(table[P.DEPLOYMENT], deployment)
        if start is not None and P.TS in table.column_names:
            m = pc.greater_equal(table[P.TS], pa.scalar(start, pa.timestamp("us", tz="UTC")))
            mask = m if mask is None else pc.and_(mask, m)
        if end is not None and P.TS in table.column_names:
            m = pc.less(table[P.TS], pa.scalar(end, pa.timestamp("us", tz="UTC")))
            mask = m if mask is None else pc.and_(mask, m)
        if mask is not None:
            table = table.filter(mask)
        if len(table):
            tables.append(table)
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


class OutcomeStore:
    """Outcomes logged for a deployment's predictions, as Parquet files under
    ``<uri>/outcomes/deployment=<name>/day=<YYYY-MM-DD>/``: one file per call."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def save(self, deployment: str, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return
        fs, root = _filesystem(self.uri)
        now = time.time()
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        folder = P.join(root, "outcomes", f"deployment={deployment}", f"day={day}")
        table = pa.table({
            "request_id": pa.array([r["request_id"] for r in rows], pa.string()),
            "row": pa.array([r["row"] for r in rows], pa.int32()),
            "label": pa.array([None if r.get("label") is None else json.dumps(r["label"])
                               for r in rows], pa.string()),
            "value": pa.array([r.get("value") for r in rows], pa.float64()),
            "release_id": pa.array([r.get("release_id") for r in rows], pa.string()),
            "arm": pa.array([r.get("arm") for r in rows], pa.string()),
            "received": pa.array([int(now * 1_000_000)] * len(rows),
                                 pa.timestamp("us", tz="UTC")),
        })
        name = f"{int(now * 1000)}-{uuid.uuid4().hex[:12]}{P.SUFFIX}"
        local = fs.type_name == "local"
        if local:
            fs.create_dir(folder, recursive=True)
        target = P.join(folder, name)
        path = P.join(folder, P.TEMP_PREFIX + name) if local else target
        pq.write_table(table, path, filesystem=fs, compression="zstd")
        if local:
            fs.move(path, target)

    def files(self, deployment: str, since: datetime | None = None) -> list[str]:
        """``deployment``'s outcome files, of the days from ``since``'s on (an outcome is
        never received before the prediction it labels)."""
        import pyarrow.fs as pafs

        fs, root = _filesystem(self.uri)
        base = P.join(root, "outcomes", f"deployment={deployment}")
        first = since.astimezone(UTC).strftime("%Y-%m-%d") if since else ""
        out = []
        for day in _listing(fs, base):
            if _value(day.path) < first:
                continue
            for f in _listing(fs, day.path):
                if f.type == pafs.FileType.File and not f.base_name.startswith(P.TEMP_PREFIX):
                    out.append(f.path)
        return sorted(out)

    def prune(self, before: datetime) -> int:
        """Delete every day of outcomes that ended before ``before`` (the log's retention
        covers the labels and values too); how many."""
        fs, root = _filesystem(self.uri)
        last = (before.astimezone(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
        gone = 0
        for deployment in _listing(fs, P.join(root, "outcomes")):
            for day in _listing(fs, deployment.path):
                if day.base_name.startswith("day=") and _value(day.path) <= last:
                    fs.delete_dir(day.path)
                    gone += 1
        return gone


def read_outcomes(uri: str, files: Sequence[str]) -> Any:
    """Every outcome of ``files`` as a DataFrame, the latest per (request id, row) kept,
    labels decoded from JSON."""
    import pandas as pd

    table = read_files(uri, files)
    if not len(table):
        return pd.DataFrame(columns=["request_id", "row", "label", "value", "release_id",
                                     "arm", "received"])
    frame = table.to_pandas()
    frame = frame.sort_values("received").drop_duplicates(["request_id", "row"], keep="last")
    frame["label"] = [None if v is None else json.loads(v) for v in frame["label"]]
    return frame.reset_index(drop=True)


class ReferenceStore:
    """Each release's reference, once: ``<uri>/<release id>/<sha256 of its content>.json``.
    A reference is never recomputed nor replaced (the first one written stays)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def _folder(self, release_id: str) -> tuple[Any, str]:
        fs, root = _filesystem(self.uri)
        return fs, P.join(root, release_id)

    def digest(self, release_id: str) -> str | None:
        fs, folder = self._folder(release_id)
        names = sorted(i.base_name for i in _listing(fs, folder)
                       if i.base_name.endswith(".json") and not i.base_name.startswith("."))
        return names[0].removesuffix(".json") if names else None

    def save(self, release_id: str, document: dict[str, Any]) -> str:
        existing = self.digest(release_id)
        if existing is not None:
            return existing
        data = json.dumps(document, sort_keys=True, default=str).encode()
        digest = "sha256-" + hashlib.sha256(data).hexdigest()
        fs, folder = self._folder(release_id)
        local = fs.type_name == "local"
        if local:
            fs.create_dir(folder, recursive=True)
        target = P.join(folder, f"{digest}.json")
        path = P.join(folder, f".{digest}.json.tmp") if local else target
        with fs.open_output_stream(path) as out:
            out.write(data)
        if local:
            fs.move(path, target)
        return digest

    def load(self, release_id: str) -> dict[str, Any] | None:
        digest = self.digest(release_id)
        if digest is None:
            return None
        fs, folder = self._folder(release_id)
        with fs.open_input_stream(P.join(folder, f"{digest}.json")) as f:
            document: dict[str, Any] = json.loads(f.read())
        document["digest"] = digest
        return document
