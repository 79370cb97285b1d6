"""Versioned features on a real local Feast (SQLite online, duckdb offline): plan/apply with
versions, point-in-time training sets against an independent expectation, pinned refs that
survive a schema change, bad definitions named by file and line, online/offline parity."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from _features_data import FEATURES, ROOT, T0, entity_rows, expected, snapshots

from ferry_contract import FeatureNotFound, InvalidFeatureDefinition, InvalidRequest
from ferry_platform.features import FeastFeatures


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "features"
    (repo / "data").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "features" / "customers.py", repo / "customers.py")
    snapshots().to_parquet(repo / "data" / "customer_stats.parquet", index=False)
    return repo


@pytest.fixture()
def feats(repo: Path, tmp_path: Path) -> FeastFeatures:
    return FeastFeatures(repo=repo, project="ferrytest",
                         registry_uri=str(tmp_path / "feast" / "registry.db"))


def test_plan_apply_and_point_in_time_training_set(feats: FeastFeatures) -> None:
    assert [c.describe() for c in feats.plan()] == ["customer_stats: new view -> v0"]
    feats.apply()
    [info] = feats.views()
    assert info.active_version == 0 and sorted(info.versions[0].features) == sorted(FEATURES)
    assert [c.change for c in feats.plan()] == ["unchanged"]
    feats.apply()  # a plain re-apply keeps v0 active
    assert feats.views()[0].active_version == 0

    entities = entity_rows()
    ts = feats.training_set([f"customer_stats:{f}" for f in FEATURES], entities)
    assert ts.feature_refs == [f"customer_stats@v0:{f}" for f in FEATURES]
    want = expected(entities, snapshots(), FEATURES)
    got = ts.frame[FEATURES].astype(float)
    pd.testing.assert_frame_equal(got, want.astype(float), check_dtype=False)
    assert len(ts.frame) == len(entities)
    assert (ts.frame["customer_id"].to_numpy() == entities["customer_id"].to_numpy()).all()
    # the generator encodes the snapshot week in tenure: no row ever sees a later week
    seen_week = ts.frame["tenure_months"] - 10 * ts.frame["customer_id"]
    row_week = (pd.to_datetime(entities["event_timestamp"], utc=True) - T0) / pd.Timedelta(weeks=1)
    assert (seen_week.dropna() <= row_week[seen_week.notna()] + 1e-9).all()
    assert ts.frame.loc[entities["customer_id"] > 40, FEATURES].isna().all().all()
    assert want["tenure_months"].notna().sum() > 100 and want["tenure_months"].isna().sum() > 10


def test_schema_change_makes_a_new_version_and_old_pins_still_read(feats: FeastFeatures,
                                                                   repo: Path) -> None:
    feats.apply()
    src = (repo / "customers.py").read_text()
    (repo / "customers.py").write_text(src.replace(
        '        Field(name="support_tickets", dtype=Int64),\n',
        '        Field(name="support_tickets", dtype=Int64),\n'
        '        Field(name="lifetime_value", dtype=Float64),\n'))
    [change] = feats.plan()
    assert (change.change, change.version) == ("new_version", 1)
    assert feats.views()[0].active_version == 0  # plan wrote nothing
    feats.apply()
    [info] = feats.views()
    assert info.active_version == 1 and [v.version for v in info.versions] == [0, 1]
    assert feats.pin(["customer_stats:lifetime_value"]) == ["customer_stats@v1:lifetime_value"]

    entities = entity_rows()
    old = feats.training_set(["customer_stats@v0:tenure_months"], entities)
    assert old.feature_refs == ["customer_stats@v0:tenure_months"]
    pd.testing.assert_series_equal(
        old.frame["tenure_months"].astype(float),
        expected(entities, snapshots(), ["tenure_months"])["tenure_months"].astype(float))
    new = feats.training_set(["customer_stats:lifetime_value"], entities)
    pd.testing.assert_series_equal(
        new.frame["lifetime_value"].astype(float),
        expected(entities, snapshots(), ["lifetime_value"])["lifetime_value"].astype(float))
    with pytest.raises(FeatureNotFound, match="v0 has no feature 'lifetime_value'"):
        feats.pin(["customer_stats@v0:lifetime_value"])
    with pytest.raises(FeatureNotFound, match="no version v7"):
        feats.pin(["customer_stats@v7:tenure_months"])
    with pytest.raises(FeatureNotFound, match="'nope' does not exist"):
        feats.pin(["nope:x"])
    with pytest.raises(InvalidRequest, match="event_timestamp"):
        feats.training_set(["customer_stats:tenure_months"], entities[["customer_id"]])


def test_a_malformed_definition_names_its_file_and_line(feats: FeastFeatures, repo: Path) -> None:
    (repo / "broken.py").write_text("from feast import Field\n\nx = Field(name='a', dtype=Floaty)\n")
    with pytest.raises(InvalidFeatureDefinition, match=r"broken\.py, line 3") as exc:
        feats.plan()
    assert exc.value.details["line"] == 3 and "NameError" in exc.value.message
    (repo / "broken.py").write_text("def f(:\n")
    with pytest.raises(InvalidFeatureDefinition, match=r"broken\.py, line 1"):
        feats.plan()


def test_online_features_equal_the_training_set_for_the_same_entity_and_time(
        feats: FeastFeatures) -> None:
    feats.apply()
    data = snapshots()
    end = data["event_timestamp"].max().to_pydatetime()
    feats.materialize(T0 - timedelta(days=1), end + timedelta(seconds=1))
    ids = [3, 17, 40, 44]  # 44 is unknown
    refs = feats.pin([f"customer_stats:{f}" for f in FEATURES])
    online = feats.online(refs, [{"customer_id": i} for i in ids])
    at = pd.DataFrame({"customer_id": ids, "event_timestamp": [end] * len(ids)})
    offline = feats.training_set(refs, at).frame
    for f in FEATURES:
        for got, want in zip(online[f], offline[f].tolist(), strict=True):
            if pd.isna(want):
                assert got is None
            else:
                assert got == pytest.approx(want)
    assert online["tenure_months"][-1] is None  # the unknown customer
    assert sum(v is not None for v in online["tenure_months"]) == 3


def test_servability_names_unmaterialized_stale_and_missing_versions(feats: FeastFeatures) -> None:
    feats.apply()
    refs = [f"customer_stats:{f}" for f in FEATURES]
    [problem] = feats.servable(refs)
    assert "customer_stats@v0 is not materialized" in problem
    end = snapshots()["event_timestamp"].max().to_pydatetime()
    feats.materialize(T0 - timedelta(days=1), end + timedelta(seconds=1))
    assert feats.servable(refs, now=end + timedelta(days=1)) == []
    [stale] = feats.servable(refs, now=end + timedelta(days=45))
    assert "customer_stats@v0 is stale" in stale and "TTL" in stale
    [missing] = feats.servable(["customer_stats@v3:tenure_months"], now=end)
    assert "no version v3" in missing


def test_a_malformed_version_in_a_ref_is_a_bad_request(feats: FeastFeatures) -> None:
    feats.apply()
    with pytest.raises(InvalidRequest, match="'vx' is not 'vN'"):
        feats.pin(["customer_stats@vx:tenure_months"])


def test_the_stock_feast_cli_works_in_the_repository(feats: FeastFeatures, repo: Path) -> None:
    """Ferry writes feature_store.yaml; `feast` run in the repository needs nothing else."""
    import os
    import subprocess
    import sys

    feats.apply()
    changed = (repo / "customers.py").read_text().replace(
        'Field(name="support_tickets", dtype=Int64),',
        'Field(name="support_tickets", dtype=Int64),\n        Field(name="lifetime_value", '
        'dtype=Float64),')
    assert changed != (repo / "customers.py").read_text()
    (repo / "customers.py").write_text(changed)
    feats.apply()  # a schema change: v1
    config = (repo / "feature_store.yaml").read_text()
    assert "project: ferrytest" in config and "enable_online_feature_view_versioning: true" \
        in config
    feast = Path(sys.executable).with_name("feast")
    env = {**os.environ, "FEAST_USAGE": "False"}

    def run(*args: str) -> str:
        done = subprocess.run([str(feast), *args], cwd=repo, capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "customer_stats" in run("feature-views", "list")
    versions = run("feature-views", "list-versions", "customer_stats").splitlines()
    assert versions[0].split()[:2] == ["VERSION", "TYPE"]
    assert [line.split()[0] for line in versions[1:]] == ["v0", "v1"]


def test_feature_store_yaml_never_carries_the_redis_password(tmp_path: Path) -> None:
    feats = FeastFeatures(repo=tmp_path / "r", project="p", registry_uri="s3://b/registry.db",
                          online_store="redis", redis="10.0.0.1:6379,password=hunter2,ssl=true")
    text = feats.write_config().read_text()
    assert "hunter2" not in text and "password=${FERRY_FEATURE_REDIS_PASSWORD}" in text
    assert feats.repo_config()["online_store"]["connection_string"].count("hunter2") == 1
