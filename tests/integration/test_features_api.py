"""Features through the SDK and the real control-plane app: plan/apply, training sets,
registration that records the pinned feature versions, and the 4xx answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _features_data import FEATURES, RECENT_T0, entity_rows, expected, snapshots
from sklearn.linear_model import LogisticRegression

import ferry


@pytest.fixture(scope="module")
def repo(feature_repo: Path) -> Path:
    return feature_repo


def test_plan_apply_views_over_the_api(registry_client, repo) -> None:  # type: ignore[no-untyped-def]
    plan = registry_client.plan_features()
    assert not plan.applied
    assert ("customer_stats", "unchanged", 0) in [(c.view, c.change, c.version)
                                                  for c in plan.changes]
    assert registry_client.apply_features().applied
    [view] = [v for v in registry_client.feature_views() if v.name == "customer_stats"]
    assert view.name == "customer_stats" and view.active_version == 0
    assert view.entities == ["customer"] and sorted(view.versions[0].features) == sorted(FEATURES)


def test_training_set_and_registration_record_pinned_versions(registry_client, repo) -> None:  # type: ignore[no-untyped-def]
    registry_client.apply_features()
    entities = entity_rows(RECENT_T0)
    ts = registry_client.training_set([f"customer_stats:{f}" for f in FEATURES], entities)
    assert ts.feature_refs == [f"customer_stats@v0:{f}" for f in FEATURES]
    want = expected(entities, snapshots(t0=RECENT_T0), FEATURES)
    pd.testing.assert_frame_equal(ts.frame[FEATURES].astype(float), want.astype(float))

    labelled = ts.frame.dropna().assign(churned=lambda d: (d.support_tickets > 0).astype(int))
    model = LogisticRegression(max_iter=500).fit(labelled[FEATURES], labelled["churned"])
    train = ferry.TrainingSet(labelled, ts.feature_refs, ts.entity_columns)
    mv = registry_client.register(model, name="feat-churn", training_data=train, target="churned")
    assert mv.feature_refs == ts.feature_refs
    assert [c.name for c in mv.signature] == FEATURES  # no entity key, no timestamp


def test_bad_feature_requests_are_4xx_naming_the_value(registry_client, repo) -> None:  # type: ignore[no-untyped-def]
    registry_client.apply_features()
    entities = entity_rows(RECENT_T0).head(5)
    with pytest.raises(ferry.NotFound, match="no feature 'colour'"):
        registry_client.training_set(["customer_stats:colour"], entities)
    with pytest.raises(ferry.NotFound, match="no version v9"):
        registry_client.training_set(["customer_stats@v9:tenure_months"], entities)
    with pytest.raises(ferry.InvalidRequest, match="customer_id"):
        registry_client.training_set(["customer_stats:tenure_months"],
                                     entities.rename(columns={"customer_id": "cid"}))
    with pytest.raises(ferry.InvalidRequest, match="event_timestamp"):
        registry_client.training_set(["customer_stats:tenure_months"], entities[["customer_id"]])
    (repo / "broken.py").write_text("from feast import Field\nx = Field(name='a', dtype=Nope)\n")
    try:
        with pytest.raises(ferry.InvalidRequest, match=r"broken\.py, line 2") as exc:
            registry_client.plan_features()
        assert exc.value.code == "invalid_feature_definition" and exc.value.details["line"] == 2
    finally:
        (repo / "broken.py").unlink()


def test_freshness_per_view_version(registry_client, repo) -> None:  # type: ignore[no-untyped-def]
    rows = [f for f in registry_client.feature_freshness() if f.view == "customer_stats"]
    [v0] = rows
    assert v0.version == 0 and v0.active and v0.fresh and v0.ttl_seconds == 30 * 86400
    newest = snapshots(t0=RECENT_T0)["event_timestamp"].max().to_pydatetime()
    assert v0.newest == newest


def test_materialize_runs_as_a_job_with_progress_and_refuses_bad_windows(registry_client, repo) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    end = snapshots(t0=RECENT_T0)["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
    seen: list[tuple[str, int]] = []
    done = registry_client.materialize(RECENT_T0 - timedelta(days=1), end, ["customer_stats"],
                                       on_progress=lambda *a: seen.append(a))
    assert done == ["customer_stats@v0"]
    assert seen[-1] == ("materialized", 100)
    [job] = registry_client.jobs(kind="materialize", limit=1)
    assert job.state.value == "succeeded" and job.result == {"materialized": done}
    lines = [entry.line for entry in registry_client.job_logs(job.id)]
    assert lines == ["materializing customer_stats@v0", "materialized"]
    with pytest.raises(ferry.InvalidRequest, match="must be after start"):
        registry_client.materialize(end, RECENT_T0, ["customer_stats"])
    with pytest.raises(ferry.NotFound, match="'nope'"):
        registry_client.materialize(RECENT_T0, end, ["nope"])
