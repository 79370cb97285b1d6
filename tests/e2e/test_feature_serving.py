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


UPGRADE_VIEW = '''
from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Float64, Int64

from customers import customer, customer_stats_source

upgrade_stats = FeatureView(
    name="upgrade_stats",
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="tenure_months", dtype=Int64),
        Field(name="monthly_charges", dtype=Float64),{extra}
    ],
    source=customer_stats_source,
)
'''


def test_a_new_feature_version_does_not_change_what_a_deployed_model_reads(  # type: ignore[no-untyped-def]
        client, feature_repo, running_platform) -> None:
    from datetime import timedelta

    from _features_data import snapshots

    path = feature_repo / "upgrade_stats.py"
    path.write_text(UPGRADE_VIEW.format(extra=""))
    end = snapshots(t0=RECENT_T0)["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
    try:
        client.apply_features()
        client.materialize(RECENT_T0 - timedelta(days=1), end, ["upgrade_stats"])
        v0_feats = ["tenure_months", "monthly_charges"]
        ts = client.training_set([f"upgrade_stats:{f}" for f in v0_feats], entity_rows(RECENT_T0))
        data = ts.frame.dropna().assign(churned=lambda d: (d.monthly_charges > 20).astype(int))
        model = LogisticRegression(max_iter=2000).fit(data[v0_feats], data["churned"])
        mv = client.register(model, name="e2e-upgrade", target="churned",
                             training_data=ferry.TrainingSet(data, ts.feature_refs,
                                                             ts.entity_columns))
        assert mv.feature_refs == ["upgrade_stats@v0:tenure_months",
                                   "upgrade_stats@v0:monthly_charges"]
        dep = client.deploy("e2e-upgrade", version=mv.version, replicas=1)
        rows = [{"customer_id": i} for i in (2, 9, 33)]
        before = dep.predict(rows)

        # a new version of the view (a feature added), applied and materialized
        path.write_text(UPGRADE_VIEW.format(
            extra='\n        Field(name="lifetime_value", dtype=Float64),'))
        plan = client.plan_features()
        assert ("upgrade_stats", "new_version", 1) in [(c.view, c.change, c.version)
                                                      for c in plan.changes]
        client.apply_features()
        client.materialize(RECENT_T0 - timedelta(days=1), end, ["upgrade_stats"])
        after = dep.predict(rows)
        assert after.predictions == before.predictions
        assert after.feature_refs == mv.feature_refs  # still v0

        # a model trained on v1 reads v1 once it is deployed
        ts1 = client.training_set(["upgrade_stats:lifetime_value", *[f"upgrade_stats:{f}"
                                                                    for f in v0_feats]],
                                  entity_rows(RECENT_T0))
        assert all(r.startswith("upgrade_stats@v1:") for r in ts1.feature_refs)
        cols = ["lifetime_value", *v0_feats]
        d1 = ts1.frame.dropna().assign(churned=lambda d: (d.monthly_charges > 20).astype(int))
        m1 = LogisticRegression(max_iter=2000).fit(d1[cols], d1["churned"])
        mv1 = client.register(m1, name="e2e-upgrade", target="churned",
                              training_data=ferry.TrainingSet(d1, ts1.feature_refs,
                                                              ts1.entity_columns))
        dep1 = client.deploy("e2e-upgrade", version=mv1.version, replicas=1)
        got = dep1.predict(rows)
        assert got.feature_refs == mv1.feature_refs and got.release_id == dep1.release_id
    finally:
        path.unlink(missing_ok=True)
        try:
            client.undeploy("e2e-upgrade")
        except ferry.NotFound:
            pass
