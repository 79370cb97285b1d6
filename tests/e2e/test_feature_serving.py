"""A model trained on a point-in-time training set is served with the same features, read
online at prediction time from the pinned versions, over REST and gRPC."""

from __future__ import annotations

import pandas as pd
import pytest
from _features_data import FEATURES, RECENT_T0, entity_rows
from sklearn.linear_model import LogisticRegression

import ferry

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def trained(client, feature_repo):  # type: ignore[no-untyped-def]
    ts = client.training_set([f"customer_stats:{f}" for f in FEATURES], entity_rows(RECENT_T0))
    labelled = ts.frame.dropna().assign(
        churned=lambda d: ((d.support_tickets > 0) & (d.monthly_charges > 20)).astype(int))
    model = LogisticRegression(max_iter=2000).fit(labelled[FEATURES], labelled["churned"])
    mv = client.register(model, name="e2e-feat", target="churned",
                         training_data=ferry.TrainingSet(labelled, ts.feature_refs,
                                                         ts.entity_columns))
    return model, mv


def test_predictions_use_the_pinned_online_features(client, trained, running_platform) -> None:  # type: ignore[no-untyped-def]
    model, mv = trained
    dep = client.deploy("e2e-feat", version=mv.version, replicas=1)
    try:
        ids = [3, 11, 17, 25, 40]
        online = running_platform.features.online(mv.feature_refs,
                                                  [{"customer_id": i} for i in ids])
        want = model.predict(pd.DataFrame({f: online[f] for f in FEATURES})).tolist()
        assert len(set(want)) == 2  # both classes: a constant answer would not pass
        for protocol in ("rest", "grpc"):
            got = dep.predict([{"customer_id": i} for i in ids], protocol=protocol)
            assert got.predictions == want, protocol
            assert got.feature_refs == mv.feature_refs == [f"customer_stats@v0:{f}"
                                                           for f in FEATURES]
            with pytest.raises(ferry.NotFound, match="customer_id=999"):
                dep.predict([{"customer_id": 3}, {"customer_id": 999}], protocol=protocol)
            with pytest.raises(ferry.InvalidInput, match="customer_id"):
                dep.predict([{"cid": 3}], protocol=protocol)
    finally:
        client.undeploy("e2e-feat")
