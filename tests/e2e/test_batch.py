"""Batch scoring on Ray Data through the SDK: the deployment's exact release scores whole
tables (output equals ``model.predict`` row for row, with the release id on every row),
features are joined point-in-time as a training set joins them, and an input that does not
fit the model is refused, naming the column, before anything is scored."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _models import FEATURES, sklearn_pipeline, training_frame
from _synth import churn

import ferry

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def deployed(client):  # type: ignore[no-untyped-def]
    model = sklearn_pipeline(seed=23)
    mv = client.register(model, name="batch-churn", training_data=training_frame(23),
                         target="churned")
    dep = client.deploy("batch-churn", version=mv.version, replicas=1)
    yield model, mv, dep
    client.undeploy("batch-churn")


def _area(client, deployment: str, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A fresh directory of this test's own under the deployment's team's first data root."""
    team = client.deployment(deployment).info.team
    return Path(client.batch.roots()[team][0]) / tmp_path.name


@pytest.fixture
def area(client, deployed, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    return _area(client, "batch-churn", tmp_path)


def _input(tmp: Path, seed: int, parts: int = 3, n: int = 2500) -> pd.DataFrame:
    """Hidden generator rows with an id, split over ``parts`` Parquet files."""
    frame = churn(n * parts, seed=seed)[FEATURES].assign(row_id=lambda d: np.arange(len(d)))
    tmp.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(frame, parts)):
        part.to_parquet(tmp / f"part-{i}.parquet", index=False)
    return frame


def test_output_equals_model_predict_row_for_row_with_the_release_id(  # type: ignore[no-untyped-def]
        client, deployed, area) -> None:
    model, mv, dep = deployed
    frame = _input(area / "in", seed=101)
    seen: list[tuple[str, int]] = []
    job = client.batch_score("batch-churn", source=str(area / "in" / "*.parquet"),
                             dest=str(area / "out"), as_of="2026-12-01",
                             keep=["row_id"], on_progress=lambda s, p: seen.append((s, p)))
    assert job.state.value == "succeeded" and job.result["rows"] == len(frame)
    out = pd.read_parquet(area / "out").sort_values("row_id").reset_index(drop=True)
    assert len(out) == len(frame) and out["row_id"].tolist() == frame["row_id"].tolist()
    want = model.predict(frame[FEATURES])
    assert len(set(want)) == 2  # both classes: a constant answer would not pass
    assert (out["prediction"].to_numpy() == want).all()
    assert set(out["release_id"]) == {dep.release_id}
    assert set(out["model_version"]) == {mv.version} and set(out["model"]) == {"batch-churn"}
    assert set(out["as_of"]) == {"2026-12-01T00:00:00+00:00"}
    assert set(out["source_digest"]) == {job.result["source_digest"]}
    assert job.result["release_id"] == dep.release_id
    assert (area / "out" / "_ferry_lineage.json").exists()
    assert seen and seen[-1][1] == 100
    assert client.batch.get(job.id).result["rows"] == len(frame)


def test_csv_input_scores_the_same(client, deployed, area) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = deployed
    frame = churn(400, seed=7)[FEATURES].assign(row_id=lambda d: np.arange(len(d)))
    (area / "in").mkdir(parents=True)
    frame.to_csv(area / "in" / "rows.csv", index=False)
    client.batch_score("batch-churn", source=str(area / "in" / "rows.csv"),
                       dest=str(area / "out"), keep=["row_id"])
    out = pd.read_parquet(area / "out").sort_values("row_id")
    assert (out["prediction"].to_numpy() == model.predict(frame[FEATURES])).all()


def test_an_input_that_does_not_fit_is_refused_before_scoring(  # type: ignore[no-untyped-def]
        client, deployed, area) -> None:
    frame = _input(area / "in", seed=5, parts=1, n=50)
    before = len(client.batch.list(500))
    with pytest.raises(ferry.InvalidInput, match="'row_id'") as extra:
        client.batch_score("batch-churn", source=str(area / "in"), dest=str(area / "o"))
    assert extra.value.details["unexpected"] == ["row_id"]
    frame.drop(columns=["tickets"]).to_parquet(area / "in" / "part-0.parquet")
    with pytest.raises(ferry.InvalidInput, match="'tickets'") as missing:
        client.batch_score("batch-churn", source=str(area / "in"), dest=str(area / "o"),
                           keep=["row_id"])
    assert missing.value.details["missing"] == ["tickets"]
    frame.assign(tenure=frame["tenure"].astype(str)).to_parquet(area / "in" / "part-0.parquet")
    with pytest.raises(ferry.InvalidInput, match="'tenure' is string"):
        client.batch_score("batch-churn", source=str(area / "in"), dest=str(area / "o"),
                           keep=["row_id"])
    with pytest.raises(ferry.NotFound, match="holds no file"):
        client.batch_score("batch-churn", source=str(area / "nothing"),
                           dest=str(area / "o"))
    with pytest.raises(ferry.NotFound, match="no deployment named 'nope'"):
        client.batch_score("nope", source=str(area / "in"), dest=str(area / "o"))
    assert len(client.batch.list(500)) == before  # no job was started
    assert not (area / "o").exists()


def test_features_are_joined_point_in_time_like_a_training_set(  # type: ignore[no-untyped-def]
        client, feature_repo, tmp_path) -> None:
    from _features_data import FEATURES as FEATS
    from _features_data import RECENT_T0, entity_rows
    from sklearn.linear_model import LogisticRegression

    ts = client.training_set([f"customer_stats:{f}" for f in FEATS], entity_rows(RECENT_T0))
    labelled = ts.frame.dropna().assign(
        churned=lambda d: ((d.support_tickets > 0) & (d.monthly_charges > 20)).astype(int))
    model = LogisticRegression(max_iter=2000).fit(labelled[FEATS], labelled["churned"])
    mv = client.register(model, name="batch-feat", target="churned",
                         training_data=ferry.TrainingSet(labelled, ts.feature_refs,
                                                         ts.entity_columns))
    dep = client.deploy("batch-feat", version=mv.version, replicas=1)
    try:
        as_of = RECENT_T0 + timedelta(weeks=3, hours=5)
        ids = pd.DataFrame({"customer_id": np.arange(1, 41)})
        area = _area(client, "batch-feat", tmp_path)
        (area / "in").mkdir(parents=True)
        ids.to_parquet(area / "in" / "ids.parquet", index=False)
        job = client.batch_score("batch-feat", source=f"{area.name}/in",  # under the root
                                 dest=f"{area.name}/out", as_of=as_of)
        out = pd.read_parquet(area / "out").sort_values("customer_id").reset_index(drop=True)
        truth = client.training_set(mv.feature_refs, ids.assign(event_timestamp=as_of))
        truth = truth.frame.sort_values("customer_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(out[FEATS].astype(float), truth[FEATS].astype(float))
        known = truth[FEATS].notna().all(axis=1)
        assert known.sum() > 20
        want = model.predict(truth.loc[known, FEATS])
        assert (out.loc[known, "prediction"].to_numpy() == want).all()
        assert set(out["release_id"]) == {dep.release_id} == {job.result["release_id"]}
        assert job.result["feature_refs"] == mv.feature_refs
    finally:
        client.undeploy("batch-feat")
