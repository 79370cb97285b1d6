"""The Feast adapter of the features capability."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ferry_contract import FeatureNotFound, InvalidFeatureDefinition, InvalidRequest
from ferry_platform.core import STALE_SUFFIX

ENTITY_TIMESTAMP = "event_timestamp"
CONFIG_FILE = "feature_store.yaml"
log = logging.getLogger("ferry.features")
ONLINE_FETCHER = "ferry_platform.features:OnlineFetcher"
"""Import path serving replicas construct to read features (see core.FeatureBinding)."""
OFFLINE_JOINER = "ferry_platform.features:OfflineJoin"
"""Import path batch-scoring workers construct to join features point-in-time."""
TEAM_TAG = "team"
"""The Feast tag naming the team that owns a view (``tags={"team": "growth"}``): its
deployers decide when the view is materialized on a schedule."""


@dataclass(frozen=True)
class PlannedChange:
    """What applying the repository would do to one feature view."""

    view: str
    change: str  # "new", "new_version", "metadata", "pin", "unchanged", "kept"
    version: int  # the version active after the change
    properties: list[str] = field(default_factory=list)

    def describe(self) -> str:
        what = {"new": "new view", "new_version": "schema change", "metadata": "same version, "
                "metadata only", "pin": "pinned", "unchanged": "unchanged",
                "kept": "not in the repository; kept, deployed models may pin it"}[self.change]
        props = f" ({', '.join(self.properties)})" if self.properties else ""
        return f"{self.view}: {what} -> v{self.version}{props}"


@dataclass(frozen=True)
class FeatureVersion:
    version: int
    created: datetime | None
    features: dict[str, str]  # feature name -> Feast dtype


@dataclass(frozen=True)
class FeatureViewInfo:
    name: str
    active_version: int
    entities: list[str]
    versions: list[FeatureVersion]
    team: str | None = None  # its tag TEAM_TAG; None: no team owns it


@dataclass(frozen=True)
class Freshness:
    """How current one version's online values are."""

    view: str
    version: int
    active: bool
    ttl_s: float | None
    newest: datetime | None  # newest event time in its online table (None: empty)

    def fresh(self, now: datetime) -> bool:
        if self.newest is None:
            return False
        return self.ttl_s is None or (now - self.newest).total_seconds() <= self.ttl_s


@dataclass(frozen=True)
class TrainingSet:
    """A point-in-time-correct frame and the exact pinned refs it was built from."""

    frame: Any  # pandas DataFrame
    feature_refs: list[str]  # "view@vN:feature", in column order


def _version_number(text: str) -> int:
    """``"v2"`` / ``"version2"`` -> 2; anything else is a bad request naming the value."""
    digits = text.removeprefix("version").removeprefix("v")
    if not digits.isdigit():
        raise InvalidRequest(f"version {text!r} is not 'vN' (e.g. 'v2') or 'latest'")
    return int(digits)


def _same_schema(a: Any, b: Any) -> bool:
    return sorted(map(str, a.features)) == sorted(map(str, b.features)) and \
        sorted(a.entities) == sorted(b.entities)


def _error_location(exc: BaseException, root: Path) -> tuple[str | None, int | None]:
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(str(root)):
            return frame.filename, frame.lineno
    return None, None


class FeastFeatures:
    """Ferry's feature repository on one Feast store (local SQLite/duckdb or Redis/S3)."""

    fetcher = ONLINE_FETCHER
    _parse_lock = threading.Lock()  # parse_repo chdirs and imports modules: one at a time

    def __init__(self, *, repo: str | Path, project: str, registry_uri: str,
                 online_store: str = "sqlite", redis: str = "127.0.0.1:6379",
                 online_path: str | Path | None = None, offline_store: str = "duckdb") -> None:
        self.repo = Path(repo).resolve()
        self.project = project
        self._registry_uri = registry_uri
        self._online = online_store
        self._redis = redis
        self._offline = offline_store
        self._online_path = Path(online_path) if online_path else (
            Path(registry_uri).parent / "online.db" if "://" not in registry_uri else None)
        self._store: Any = None

    # -- the Feast store ----------------------------------------------------------------
    def store(self) -> Any:
        if self._store is None:
            from feast import FeatureStore, RepoConfig

            config = self.repo_config()
            self.repo.mkdir(parents=True, exist_ok=True)
            if "://" not in self._registry_uri:
                Path(self._registry_uri).parent.mkdir(parents=True, exist_ok=True)
            self.write_config()
            self._store = FeatureStore(config=RepoConfig(**config, repo_path=self.repo))
        return self._store

    def repo_config(self, *, for_file: bool = False) -> dict[str, Any]:
        """The Feast repository config (``feature_store.yaml``'s content) this store uses.

        ``for_file``: as written to the repository, with absolute local paths and the Redis
        password as ``${FERRY_FEATURE_REDIS_PASSWORD}`` (Feast expands environment
        variables when it reads the file), so no secret lands on disk."""
        def local(path: str) -> str:
            return path if "://" in path else str(Path(path).resolve())

        if self._online == "redis":
            connection = self._redis
            if for_file:
                connection, password = split_password(self._redis)
                if password:
                    connection += f",password=${{{REDIS_PASSWORD_ENV}}}"
            online: dict[str, Any] = {"type": "redis", "connection_string": connection}
        elif self._online == "sqlite":
            online = {"type": "sqlite", "path": local(str(self._online_path))}
        else:
            raise InvalidRequest(
                f"FERRY_FEATURE_ONLINE_STORE={self._online!r} is not supported; use "
                "'sqlite' (local) or 'redis'.")
        if self._offline not in ("duckdb", "file"):
            raise InvalidRequest(
                f"FERRY_FEATURE_OFFLINE_STORE={self._offline!r} is not supported; use "
                "'duckdb' (local parquet) or 'file' (parquet on local disk or s3://).")
        return {
            "project": self.project,
            "provider": "local",
            "registry": {"registry_type": "file", "path": local(self._registry_uri),
                         "cache_ttl_seconds": 0,
                         "enable_online_feature_view_versioning": True},
            "online_store": online,
            "offline_store": {"type": self._offline},
            "entity_key_serialization_version": 3,
        }

    def write_config(self) -> Path:
        """Write ``feature_store.yaml`` into the repository (if it changed), so the stock
        ``feast`` CLI works there as it stands: ``feast feature-views list``."""
        import yaml

        path = self.repo / CONFIG_FILE
        text = ("# Written by Ferry from its settings (FERRY_FEATURE_*); edits are replaced.\n"
                + yaml.safe_dump(self.repo_config(for_file=True), sort_keys=False))
        try:
            if not path.exists() or path.read_text() != text:
                self.repo.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        except OSError as e:  # a read-only repository: Ferry itself does not need the file
            log.warning("could not write %s: %s", path, e)
        return path

    # -- definitions: parse, plan, apply ------------------------------------------------
    def _parse(self, repo: Path | None = None) -> Any:
        from feast import Project
        from feast.repo_operations import parse_repo

        root = (repo or self.repo).resolve()
        with self._parse_lock:
            for f in root.glob("**/*.py"):
                sys.modules.pop(".".join(f.relative_to(root).with_suffix("").parts), None)
            cwd = os.getcwd()
            os.chdir(root)
            sys.path.insert(0, str(root))
            try:
                contents = parse_repo(root)
            except Exception as e:
                file, line = _error_location(e, root)
                where = f"{Path(file).name}, line {line}" if file else "the feature repository"
                raise InvalidFeatureDefinition(
                    f"feature definitions do not load: {type(e).__name__}: {e} ({where}). "
                    "Fix the definition and run `ferry features plan` again.",
                    details={"file": file, "line": line, "error": type(e).__name__},
                ) from e
            finally:
                os.chdir(cwd)
                sys.path.remove(str(root))
        if not contents.projects:
            contents.projects.append(Project(name=self.project))
        return contents

    def _versions(self, name: str) -> list[dict[str, Any]]:
        return list(self.store().list_feature_view_versions(name))

    def plan(self, repo: Path | None = None) -> list[PlannedChange]:
        """Which views applying ``repo`` would create, version or leave alone (writes nothing)."""
        return self._plan(self._parse(repo))

    def _plan(self, contents: Any) -> list[PlannedChange]:
        from feast.diff.property_diff import TransitionType
        from feast.infra.registry.registry import FeastObjectType

        registry_diff, _, _ = self.store().plan(contents)
        changes: list[PlannedChange] = []
        for d in registry_diff.feast_object_diffs:
            if d.feast_object_type != FeastObjectType.FEATURE_VIEW:
                continue
            props = sorted({p.property_name for p in d.feast_object_property_diffs}
                           - {"batch_source"})
            if d.transition_type == TransitionType.CREATE:
                changes.append(PlannedChange(d.name, "new", 0))
                continue
            current = self._active_version(d.name)
            new, cur = d.new_feast_object, d.current_feast_object
            if d.transition_type == TransitionType.DELETE:
                changes.append(PlannedChange(d.name, "kept", current))
            elif d.transition_type != TransitionType.UPDATE:
                changes.append(PlannedChange(d.name, "unchanged", current))
            elif new.version not in ("", "latest"):
                changes.append(PlannedChange(d.name, "pin", _version_number(new.version),
                                             props))
            elif not _same_schema(cur, new):
                latest = max(v["version_number"] for v in self._versions(d.name))
                changes.append(PlannedChange(d.name, "new_version", latest + 1, props))
            else:
                changes.append(PlannedChange(d.name, "metadata" if props else "unchanged",
                                             current, props))
        return sorted(changes, key=lambda c: c.view)

    def apply(self, repo: Path | None = None) -> list[PlannedChange]:
        """Apply the definitions. An unchanged view keeps its active version (Feast alone
        would reset it and send unversioned reads to the v0 table)."""
        from feast import FeatureView

        contents = self._parse(repo)
        changes = self._plan(contents)
        store = self.store()
        self.write_config()
        for fv in contents.feature_views:
            if type(fv) is not FeatureView or fv.version not in ("", "latest"):
                continue
            try:
                current = store.registry.get_feature_view(fv.name, self.project, allow_cache=False)
            except Exception:  # noqa: BLE001 - a new view
                continue
            if _same_schema(fv, current):
                fv.current_version_number = self._active_version(fv.name)
        store.apply([*contents.projects, *contents.data_sources, *contents.entities,
                     *contents.feature_views, *contents.feature_services])
        return changes

    def _active_version(self, name: str) -> int:
        store = self.store()
        fv = store.registry.get_feature_view(name, self.project, allow_cache=False)
        if fv.current_version_number is not None:
            return int(fv.current_version_number)
        for v in reversed(self._versions(name)):  # reset by a plain re-apply: newest same schema
            snap = store.registry.get_feature_view_by_version(name, self.project,
                                                              v["version_number"])
            if _same_schema(fv, snap):
                return int(v["version_number"])
        return 0

    # -- reading ------------------------------------------------------------------------
    def views(self) -> list[FeatureViewInfo]:
        store = self.store()
        out = []
        for fv in sorted(store.list_feature_views(), key=lambda v: v.name):
            versions = []
            for v in self._versions(fv.name):
                snap = store.registry.get_feature_view_by_version(fv.name, self.project,
                                                                  v["version_number"])
                versions.append(FeatureVersion(
                    version=int(v["version_number"]), created=v.get("created_timestamp"),
                    features={f.name: str(f.dtype) for f in snap.features}))
            team = (fv.tags or {}).get(TEAM_TAG) or None
            out.append(FeatureViewInfo(fv.name, self._active_version(fv.name),
                                       sorted(fv.entities), versions, team))
        return out

    def pin(self, features: list[str]) -> list[str]:
        """Resolve refs to exact versions: ``view:f`` -> ``view@v<active>:f``; ``view@vN:f``
        is checked to exist and to hold ``f``."""
        return [ref for ref, _ in self._resolve(features)]

    def _resolve(self, features: list[str]) -> list[tuple[str, str]]:
        """Each ref pinned, with its Feast dtype (one read of the registry)."""
        if not features:
            raise InvalidRequest("name at least one feature, e.g. 'customer_stats:tenure'")
        infos = {v.name: v for v in self.views()}
        pinned = []
        for ref in features:
            view_part, sep, feat = ref.partition(":")
            if not sep or not feat:
                raise InvalidRequest(f"feature ref {ref!r} is not 'view:feature' or "
                                     "'view@vN:feature'")
            name, _, ver = view_part.partition("@")
            info = infos.get(name)
            if info is None:
                raise FeatureNotFound(f"feature view {name!r} does not exist; views: "
                                      f"{sorted(infos) or 'none'}. Apply its definition first.")
            number = info.active_version if not ver or ver == "latest" else _version_number(ver)
            version = next((v for v in info.versions if v.version == number), None)
            if version is None:
                raise FeatureNotFound(
                    f"{name!r} has no version v{number}; versions: "
                    f"{[f'v{v.version}' for v in info.versions]}")
            if feat not in version.features:
                raise FeatureNotFound(
                    f"{name}@v{number} has no feature {feat!r}; it has "
                    f"{sorted(version.features)}")
            pinned.append((f"{name}@v{number}:{feat}", version.features[feat]))
        return pinned

    def training_set(self, features: list[str], entities: Any) -> TrainingSet:
        """Point-in-time join of ``entities`` (join keys + ``event_timestamp``) with the
        pinned features: each row only sees feature values at or before its timestamp."""
        import pandas as pd

        if ENTITY_TIMESTAMP not in entities.columns:
            raise InvalidRequest(
                f"the entity frame needs an {ENTITY_TIMESTAMP!r} column: the time at which "
                "each row's features must be known (nothing later is joined).")
        refs = self.pin(features)
        by_view: dict[str, set[str]] = {}
        for r in refs:
            view_part = r.split(":")[0]
            by_view.setdefault(view_part.split("@")[0], set()).add(view_part)
        clashes = [v for v, parts in by_view.items() if len(parts) > 1]
        if clashes:
            raise InvalidRequest(f"one training set cannot mix versions of {clashes}")
        keys = self._join_keys(sorted(by_view))
        missing = [k for k in keys if k not in entities.columns]
        if missing:
            raise InvalidRequest(
                f"the entity frame lacks join key column(s) {missing} of "
                f"{sorted(by_view)}; it has {list(entities.columns)}.")
        frame = entities.reset_index(drop=True)
        frame[ENTITY_TIMESTAMP] = pd.to_datetime(frame[ENTITY_TIMESTAMP], utc=True)
        # Feast joins each distinct (keys, time) once: its `file` store loses features for
        # repeated entity rows and drops rows with no value inside the TTL. Every entity
        # row comes back here, in order, with nulls where nothing was known at its time.
        on = [*keys, ENTITY_TIMESTAMP]
        distinct = frame[on].drop_duplicates().reset_index(drop=True)
        distinct["__ferry_row"] = range(len(distinct))
        job = self.store().get_historical_features(entity_df=distinct, features=refs)
        names = [r.split(":")[1] for r in refs]
        found = distinct.merge(job.to_df()[["__ferry_row", *names]], on="__ferry_row",
                               how="left")
        joined = frame[on].merge(found[[*on, *names]], on=on, how="left", validate="m:1")
        out = pd.concat([frame, joined[names]], axis=1)
        return TrainingSet(out, refs)

    def feature_types(self, refs: list[str]) -> dict[str, str]:
        """Feast dtype of each pinned feature, by feature name."""
        return {ref.split(":", 1)[1]: dtype for ref, dtype in self._resolve(refs)}

    def join_key_types(self, refs: list[str]) -> dict[str, str]:
        """Join keys the pinned views need, with the MLflow type of their values."""
        store = self.store()
        mlflow_type = {"INT64": "long", "INT32": "integer", "STRING": "string",
                       "BYTES": "binary", "BOOL": "boolean"}
        out: dict[str, str] = {}
        for name in sorted({r.split(":")[0].split("@")[0] for r in self.pin(refs)}):
            for entity in store.get_feature_view(name).entities:
                ent = store.get_entity(entity)
                out[ent.join_key] = mlflow_type.get(ent.value_type.name, "string")
        return out

    def _join_keys(self, views: list[str]) -> list[str]:
        store = self.store()
        keys: list[str] = []
        for name in views:
            for entity in store.get_feature_view(name).entities:
                key = store.get_entity(entity).join_key
                if key not in keys:
                    keys.append(key)
        return keys

    def materialize(self, start: datetime, end: datetime, views: list[str] | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> list[str]:
        """Load each view's active version into the online store for ``[start, end]``.

        ``progress(done, total, "view@vN")`` is called before each view and once at the
        end; returns the ``view@vN`` parts materialized."""
        store = self.store()
        infos = {v.name: v for v in self.views()}
        names = views or sorted(infos)
        unknown = [n for n in names if n not in infos]
        if unknown:
            raise FeatureNotFound(f"no feature view(s) {unknown}; views: {sorted(infos)}")
        done: list[str] = []
        for i, name in enumerate(names):
            part = f"{name}@v{infos[name].active_version}"
            if progress:
                progress(i, len(names), part)
            store.materialize(start, end, feature_views=[name],
                              version=f"v{infos[name].active_version}")
            done.append(part)
        if progress:
            progress(len(names), len(names), "")
        return done

    def servable(self, refs: list[str], *, now: datetime | None = None) -> list[str]:
        """Why ``refs`` cannot be served online (empty if they can): a pinned version that no
        longer exists, or one whose online table is empty or older than the view's TTL."""
        from datetime import UTC

        problems: list[str] = []
        try:
            pinned = self.pin(refs)
        except FeatureNotFound as e:
            return [e.message]
        store = self.store()
        now = now or datetime.now(UTC)
        seen: set[str] = set()
        for ref in pinned:
            part = ref.split(":")[0]
            if part in seen:
                continue
            seen.add(part)
            name, _, ver = part.partition("@")
            fv = store.get_feature_view(name)
            newest = self._newest_online(name, _version_number(ver))
            if newest is None:
                problems.append(f"{part} is not materialized: its online table is empty. Run "
                                f"`ferry features materialize` for {name!r}.")
            elif fv.ttl and now - newest > fv.ttl:
                problems.append(f"{part} is stale: newest online value {newest:%Y-%m-%d %H:%M} "
                                f"is older than its TTL ({fv.ttl}). Materialize it again.")
        return problems

    def freshness(self) -> list[Freshness]:
        """Per view and version: the newest online value and whether it is within the TTL."""
        out = []
        for info in self.views():
            fv = self.store().get_feature_view(info.name)
            ttl = fv.ttl.total_seconds() if fv.ttl else None
            for v in info.versions:
                out.append(Freshness(info.name, v.version, v.version == info.active_version,
                                     ttl, self._newest_online(info.name, v.version)))
        return out

    def _newest_online(self, name: str, version: int) -> datetime | None:
        """Newest event time in one version's online table (SQLite), or any value (Redis)."""
        from datetime import UTC

        from feast.infra.online_stores.helpers import compute_table_id

        store = self.store()
        snap = store.registry.get_feature_view_by_version(name, self.project, version)
        table = compute_table_id(self.project, snap, True)
        if self._online == "redis":
            return self._newest_redis(table.removeprefix(f"{self.project}_"))
        import sqlite3

        try:
            with sqlite3.connect(str(self._online_path)) as con:
                (newest,) = con.execute(f'select max(event_ts) from "{table}"').fetchone()
        except sqlite3.OperationalError:
            return None
        if newest is None:
            return None
        if isinstance(newest, (int, float)):
            return datetime.fromtimestamp(newest, tz=UTC)
        parsed = datetime.fromisoformat(str(newest))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def _newest_redis(self, view_table: str, sample: int = 10_000) -> datetime | None:
        """Newest ``_ts:<view>[_vN]`` among up to ``sample`` entity hashes of this project.

        Feast keeps one hash per entity key with a timestamp field per view version; a
        sample bounds the cost on large stores (freshness is about the newest write)."""
        from datetime import UTC

        import redis
        from google.protobuf.timestamp_pb2 import Timestamp

        host_port, *params = self._redis.split(",")
        host, _, port = host_port.partition(":")
        opts = dict(p.split("=", 1) for p in params if "=" in p)
        client = redis.Redis(host=host, port=int(port or 6379), db=int(opts.get("db", 0)),
                             password=opts.get("password"), ssl=opts.get("ssl") == "true",
                             socket_connect_timeout=float(opts.get("socket_connect_timeout", 10)),
                             socket_timeout=float(opts.get("socket_timeout", 30)))
        field = f"_ts:{view_table}"
        newest: datetime | None = None
        # Feast's Redis keys end with the project name; other keys in the DB are not ours.
        for i, key in enumerate(client.scan_iter(match=f"*{self.project}", count=1000)):
            if i >= sample:
                break
            raw = client.hget(key, field)
            if raw:
                ts = Timestamp.FromString(raw).ToDatetime(tzinfo=UTC)
                newest = ts if newest is None or ts > newest else newest
        return newest

    def online_config(self) -> dict[str, Any]:
        """Everything a serving replica needs to read the same online store, except the
        Redis password: that reaches replicas in their environment
        (:data:`REDIS_PASSWORD_ENV`, see :meth:`worker_secrets`), never in the Serve
        application config, which anyone who can read Ray's state can read."""
        connection, password = split_password(self._redis)
        return {"repo": str(self.repo), "project": self.project,
                "registry_uri": self._registry_uri, "online_store": self._online,
                "offline_store": self._offline, "redis": connection,
                "redis_password_env": REDIS_PASSWORD_ENV if password else None,
                "online_path": str(self._online_path or "") or None}

    def worker_secrets(self) -> dict[str, str]:
        """Secrets the serving processes need in their environment (the Redis password)."""
        _, password = split_password(self._redis)
        return {REDIS_PASSWORD_ENV: password} if password and self._online == "redis" else {}

    def online(self, refs: list[str], entity_rows: list[dict[str, Any]],
               timestamps: bool = False) -> dict[str, list[Any]]:
        """One list per feature; with ``timestamps``, also ``<feature>__ts``: each value's
        event time in epoch seconds (0 where nothing was found)."""
        result: dict[str, list[Any]] = self.store().get_online_features(
            features=refs, entity_rows=entity_rows).to_dict(include_event_timestamps=timestamps)
        return result

    def ttl_s(self, view: str) -> float | None:
        """A view's TTL in seconds (None: none)."""
        fv = self.store().get_feature_view(view)
        return fv.ttl.total_seconds() if fv.ttl else None


REDIS_PASSWORD_ENV = "FERRY_FEATURE_REDIS_PASSWORD"
"""Where a serving replica finds the online store's Redis password."""


def split_password(connection: str) -> tuple[str, str | None]:
    """A Feast Redis connection string without its ``password=`` part, and the password."""
    host_port, *params = connection.split(",")
    kept, password = [host_port], None
    for part in params:
        if part.strip().lower().startswith("password="):
            password = part.split("=", 1)[1]
        else:
            kept.append(part)
    return ",".join(kept), password


class OnlineFetcher:
    """What a serving replica uses to read pinned features (built from ``online_config``;
    the Redis password comes from the replica's environment)."""

    def __init__(self, *, redis_password_env: str | None = None, **config: Any) -> None:
        if redis_password_env:
            password = os.environ.get(redis_password_env)
            if not password:
                raise RuntimeError(
                    f"the online store needs a Redis password and {redis_password_env} is not "
                    "set in this serving process's environment (the platform sets it on the "
                    "Ray processes it starts; on a cluster, give the workers the team's "
                    "feature-store Secret)")
            config["redis"] = f"{config.get('redis', '')},password={password}"
        self._features = FeastFeatures(**config)
        self._ttls: dict[str, float | None] = {}

    def fetch(self, refs: list[str], entity_rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """One list per feature, and per feature whose view has a TTL ``<feature>__stale``:
        per row, whether the value found is older than that TTL."""
        data = self._features.online(refs, entity_rows, timestamps=True)
        now = time.time()
        out: dict[str, list[Any]] = {}
        for ref in refs:
            name = ref.split(":", 1)[1]
            out[name] = data[name]
            ttl = self._ttl(ref.split(":", 1)[0].partition("@")[0])
            stamps = data.get(name + "__ts")
            if ttl and stamps:
                out[name + STALE_SUFFIX] = [bool(t) and now - float(t) > ttl for t in stamps]
        return out

    def _ttl(self, view: str) -> float | None:
        """The view's TTL, read once per process (a view's new version is a new release)."""
        if view not in self._ttls:
            try:
                self._ttls[view] = self._features.ttl_s(view)
            except Exception as e:  # noqa: BLE001 - no staleness rather than no answer
                log.debug("no TTL of feature view %s: %s", view, e)
                self._ttls[view] = None
        return self._ttls[view]


class OfflineJoin:
    """What a batch-scoring worker uses to join pinned features point-in-time from the
    offline store (built from ``online_config``; the offline store needs no password)."""

    def __init__(self, *, redis_password_env: str | None = None, **config: Any) -> None:
        self._features = FeastFeatures(**config)

    def join(self, refs: list[str], entities: Any) -> Any:
        """``entities`` (join keys, ``event_timestamp`` and anything else, kept) with the
        features each row's time saw, exactly as a training set is built."""
        return self._features.training_set(refs, entities).frame
