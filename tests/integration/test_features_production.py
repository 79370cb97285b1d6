"""The production path of the features capability: the Feast registry and the offline data
on S3 (moto's S3 server on loopback stands in for AWS), the online store on the machine's
Redis. The same checks as the embedded default: versions, point-in-time training sets against
the independent expectation, materialization, online/offline parity and freshness, and a
reader in another process built from nothing but the config a replica is handed."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from _features_data import FEATURES, ROOT, T0, entity_rows, expected, snapshots
from _services import moto_s3

from ferry_platform.features import FeastFeatures

BUCKET = "ferry-features"
REDIS_DB = 11  # a database of its own on the machine's Redis, emptied before and after


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with moto_s3(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture()
def redis_db() -> Iterator[str]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    yield f"127.0.0.1:6379,db={REDIS_DB}"
    client.flushdb()


def _s3_repo(tmp_path: Path, data: pd.DataFrame, key: str) -> Path:
    """The sample definitions with their source on S3, as a production repository has."""
    import boto3

    buf = io.BytesIO()
    data.to_parquet(buf, index=False)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    repo = tmp_path / "features"
    repo.mkdir()
    source = (ROOT / "examples" / "features" / "customers.py").read_text()
    local = 'path=str(DATA / "customer_stats.parquet")'
    assert local in source
    (repo / "customers.py").write_text(source.replace(local, f'path="s3://{BUCKET}/{key}"'))
    return repo


def test_registry_and_offline_data_on_s3_with_redis_online(s3: str, redis_db: str,
                                                          tmp_path: Path) -> None:
    import boto3

    data = snapshots()
    repo = _s3_repo(tmp_path, data, "offline/customer_stats.parquet")
    feats = FeastFeatures(repo=repo, project="ferryprod",
                          registry_uri=f"s3://{BUCKET}/feast/registry.pb",
                          online_store="redis", redis=redis_db, offline_store="file")
    assert [c.change for c in feats.apply()] == ["new"]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "feast/registry.pb" in keys

    # point-in-time training set read from S3, equal to the independent expectation; every
    # entity row comes back, repeated ones too (Feast's file store alone drops rows with no
    # value in the TTL and loses the features of repeated entity rows)
    entities = pd.concat([entity_rows(), entity_rows().head(60)], ignore_index=True)
    ts = feats.training_set([f"customer_stats:{f}" for f in FEATURES], entities)
    assert ts.feature_refs == [f"customer_stats@v0:{f}" for f in FEATURES]
    want = expected(entities, data, FEATURES)
    assert want["tenure_months"].isna().sum() > 10  # the check covers missing rows
    pd.testing.assert_frame_equal(ts.frame[FEATURES].astype(float), want.astype(float))
    pd.testing.assert_frame_equal(ts.frame[["customer_id"]], entities[["customer_id"]])

    # materialize into Redis: servable, fresh, and online equals offline at the same time
    end = data["event_timestamp"].max().to_pydatetime()
    assert "not materialized" in feats.servable(ts.feature_refs, now=end)[0]
    seen: list[tuple[int, int, str]] = []
    assert feats.materialize(T0 - timedelta(days=1), end + timedelta(seconds=1),
                             progress=lambda *a: seen.append(a)) == ["customer_stats@v0"]
    assert seen == [(0, 1, "customer_stats@v0"), (1, 1, "")]
    assert feats.servable(ts.feature_refs, now=end + timedelta(days=1)) == []
    [fresh] = feats.freshness()
    assert fresh.newest == end
    ids = [5, 17, 99]
    online = feats.online(ts.feature_refs, [{"customer_id": i} for i in ids])
    at = pd.DataFrame({"customer_id": ids, "event_timestamp": [end] * 3})
    offline = feats.training_set(ts.feature_refs, at).frame
    for f in FEATURES:
        assert online[f][:2] == pytest.approx(offline[f].tolist()[:2]) and online[f][2] is None

    # a schema change makes v1 in the S3 registry; v0 is still what the old refs read
    (repo / "customers.py").write_text((repo / "customers.py").read_text().replace(
        'Field(name="support_tickets", dtype=Int64),',
        'Field(name="support_tickets", dtype=Int64),\n        '
        'Field(name="lifetime_value", dtype=Float64),'))
    assert [(c.change, c.version) for c in feats.apply()] == [("new_version", 1)]
    again = FeastFeatures(repo=repo, project="ferryprod",
                          registry_uri=f"s3://{BUCKET}/feast/registry.pb",
                          online_store="redis", redis=redis_db, offline_store="file")
    assert [v.version for v in again.views()[0].versions] == [0, 1]
    assert again.online(ts.feature_refs, [{"customer_id": 5}])["tenure_months"] == online[
        "tenure_months"][:1]
    assert "customer_stats@v1 is not materialized" in again.servable(
        ["customer_stats:lifetime_value"], now=end)[0]


def test_a_replica_process_reads_features_from_the_config_it_is_handed(
        s3: str, redis_db: str, tmp_path: Path) -> None:
    """A serving replica runs elsewhere with only ``online_config()`` (and the S3 endpoint
    the runtime forwards): it must read the same values the control plane sees."""
    data = snapshots()
    repo = _s3_repo(tmp_path, data, "replica/customer_stats.parquet")
    feats = FeastFeatures(repo=repo, project="ferryreplica",
                          registry_uri=f"s3://{BUCKET}/replica/registry.pb",
                          online_store="redis", redis=redis_db, offline_store="file")
    feats.apply()
    end = data["event_timestamp"].max().to_pydatetime()
    feats.materialize(T0 - timedelta(days=1), end + timedelta(seconds=1))
    refs = feats.pin([f"customer_stats:{f}" for f in FEATURES])
    rows = [{"customer_id": i} for i in (2, 8, 31)]
    script = ("import json, sys\nfrom ferry_platform.features import OnlineFetcher\n"
              "cfg, refs, rows = json.loads(sys.stdin.read())\n"
              "print(json.dumps(OnlineFetcher(**cfg).fetch(refs, rows)))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=180, check=True,
                         input=json.dumps([feats.online_config(), refs, rows]))
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert {f: got[f] for f in FEATURES} == {f: feats.online(refs, rows)[f] for f in FEATURES}
    # the snapshots are from June: every value found is older than the view's TTL
    assert {f: got[f + "__stale"] for f in FEATURES} == {f: [True] * 3 for f in FEATURES}
    assert all(v is not None for v in got["tenure_months"])
