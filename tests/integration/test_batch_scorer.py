"""The batch scorer in process (what each Ray Data actor runs, without Ray): predictions
equal ``model.predict`` row for row with the lineage on every row, and a feature-backed
model's features are joined from a real local Feast exactly as a training set joins them
(compared with an independent point-in-time expectation)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _features_data import FEATURES as FEATS
from _features_data import ROOT, T0, expected, snapshots
from _models import FEATURES, sklearn_pipeline
from _synth import churn
from sklearn.linear_model import LogisticRegression

from ferry_contract import ColumnSpec
from ferry_platform.core import ReleaseManifest
from ferry_platform.features import OFFLINE_JOINER, FeastFeatures
from ferry_platform.serving import BatchSpec, SourceInfo
from ferry_platform.serving._batch import LINEAGE_COLUMNS, PREDICTION, Scorer


class Service:
    """What a Bento's service gives the scorer: ``predict_frame`` is ``model.predict``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_frame(self, frame: Any) -> Any:
        return self.model.predict(frame)


def _manifest(signature: list[ColumnSpec]) -> ReleaseManifest:
    return ReleaseManifest(release_id="m-v1-abc", model="m", version=1, model_uri="models:/x",
                           model_digest="sha256:0", training_data_digest="sha256:1",
                           code_version="git:0", framework="sklearn", signature=signature,
                           ferry_version="0", bento_tag="b:1")


def _spec(as_of: datetime | None, features: dict[str, Any] | None = None) -> BatchSpec:
    source = SourceInfo(["x.parquet"], "parquet", [], {}, 0, "sha256:feed")
    return BatchSpec(release={}, source=source, dest="/nowhere", as_of=as_of, features=features)


def test_predictions_equal_model_predict_with_lineage_on_every_row() -> None:
    model = sklearn_pipeline(seed=41)
    sig = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
           ColumnSpec(name="income", type="double"), ColumnSpec(name="tickets", type="long"),
           ColumnSpec(name="plan", type="string")]
    as_of = datetime(2026, 12, 1, tzinfo=UTC)
    scorer = Scorer(_spec(as_of), loaded=(_manifest(sig), Service(model)))
    frame = churn(5000, seed=77)[FEATURES].assign(row_id=lambda d: np.arange(len(d)))
    # columns in another order than the signature's, as a file may hold them
    out = scorer(frame[["row_id", "plan", *FEATURES[:4]]])
    want = model.predict(frame[FEATURES])
    assert len(set(want)) == 2
    assert (out[PREDICTION].to_numpy() == want).all()
    assert out["row_id"].tolist() == frame["row_id"].tolist()
    assert list(out.columns)[-len(LINEAGE_COLUMNS):] == list(LINEAGE_COLUMNS)
    assert set(out["release_id"]) == {"m-v1-abc"} and set(out["model_version"]) == {1}
    assert set(out["as_of"]) == {"2026-12-01T00:00:00+00:00"}
    assert set(out["source_digest"]) == {"sha256:feed"}


def test_arrow_batches_score_as_pandas_batches_do_and_carry_columns_untouched() -> None:
    """Ray Data hands the actors Arrow tables: the same rows give the same predictions and
    lineage as the pandas path, the carried columns keep their Arrow values and types."""
    import pyarrow as pa

    model = sklearn_pipeline(seed=43)
    sig = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
           ColumnSpec(name="income", type="double"), ColumnSpec(name="tickets", type="long"),
           ColumnSpec(name="plan", type="string")]
    frame = churn(3000, seed=78)[FEATURES].assign(row_id=lambda d: np.arange(len(d)) * 7)
    table = pa.Table.from_pandas(frame[["row_id", "plan", *FEATURES[:4]]],
                                 preserve_index=False)
    for as_of in (datetime(2026, 12, 1, tzinfo=UTC), None):
        scorer = Scorer(_spec(as_of), loaded=(_manifest(sig), Service(model)))
        out = scorer(table)
        assert isinstance(out, pa.Table) and out.num_rows == len(frame)
        assert out.schema.names == [*table.schema.names, PREDICTION, *LINEAGE_COLUMNS]
        assert out.column("row_id").equals(table.column("row_id"))
        assert out.schema.field("model_version").type == pa.int64()
        assert out.schema.field("as_of").type == pa.string()
        got, want = out.to_pandas(), scorer(frame[["row_id", "plan", *FEATURES[:4]]])
        assert len(set(want[PREDICTION])) == 2
        assert (got[PREDICTION].to_numpy() == model.predict(frame[FEATURES])).all()
        for column in LINEAGE_COLUMNS:
            assert got[column].tolist() == want[column].tolist(), column
    assert set(got["as_of"]) == {None}


def test_features_are_joined_point_in_time_as_a_training_set_joins_them(tmp_path: Path) -> None:
    repo = tmp_path / "features"
    (repo / "data").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "features" / "customers.py", repo / "customers.py")
    data = snapshots()
    data.to_parquet(repo / "data" / "customer_stats.parquet", index=False)
    feats = FeastFeatures(repo=repo, project="batchtest",
                          registry_uri=str(tmp_path / "feast" / "registry.db"))
    feats.apply()
    refs = feats.pin([f"customer_stats:{f}" for f in FEATS])
    sig = [ColumnSpec(name=f, type="double") for f in FEATS]
    as_of = T0 + timedelta(weeks=3, hours=5)
    ids = pd.DataFrame({"customer_id": np.arange(1, 41)})
    truth = expected(ids.assign(event_timestamp=as_of), data, FEATS)
    assert truth.notna().all().all()  # every customer has a snapshot inside the TTL then
    model = LogisticRegression(max_iter=1000).fit(
        truth.astype(float), (truth["monthly_charges"] > truth["monthly_charges"].median()).astype(int))
    features = {"joiner": OFFLINE_JOINER, "config": feats.online_config(), "refs": refs,
                "entity_keys": {"customer_id": "long"}}
    scorer = Scorer(_spec(as_of, features), loaded=(_manifest(sig), Service(model)))
    out = scorer(ids.iloc[::-1])  # any order: each row is joined on its own key
    out = out.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(out[FEATS].astype(float), truth.astype(float))
    ts = feats.training_set(refs, ids.assign(event_timestamp=as_of)).frame
    pd.testing.assert_frame_equal(out[FEATS].astype(float), ts[FEATS].astype(float))
    assert (out[PREDICTION].to_numpy() == model.predict(truth.astype(float))).all()
    assert set(pd.to_datetime(out["event_timestamp"], utc=True)) == {pd.Timestamp(as_of)}
