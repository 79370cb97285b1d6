"""How the portal's monitoring page groups drift lines: distances (drift above their
threshold) and p-values (drift below it) never share a chart; features without a
reference are not drawn; the fragility rows count refused requests per column."""

from __future__ import annotations

from ferry_contract import Drift, FeatureHealth, ReleaseReport, ServiceStats
from ferry_server.portal._monitoring import _drift_groups, _fragility_rows, _is_p_value


def test_distances_and_p_values_get_their_own_charts() -> None:
    rel = ReleaseReport(release_id="m-v1-x", drift=[
        Drift(column="a", method="wasserstein", score=0.3, threshold=0.1, drifted=True),
        Drift(column="b", method="jensenshannon", score=0.01, threshold=0.1),
        Drift(column="c", method="ks", score=0.001, threshold=0.05, drifted=True),
        Drift(column="d", method="chisquare", score=0.4, threshold=0.05),
        Drift(column="e", status="no_reference")])
    groups = {(g["p_value"], g["threshold"]): g for g in _drift_groups(rel)}
    assert set(groups) == {(False, 0.1), (True, 0.05)}
    assert groups[(False, 0.1)]["columns"] == ["a", "b"]
    assert groups[(False, 0.1)]["method"] == "wasserstein / jensenshannon"
    assert groups[(True, 0.05)]["columns"] == ["c", "d"]
    assert _is_p_value("KS") and not _is_p_value("psi") and not _is_p_value(None)


def test_fragility_rows_include_refused_columns_as_a_rate_of_requests() -> None:
    rel = ReleaseReport(
        release_id="m-v1-x",
        service=ServiceStats(requests=200, schema_violations={
            "x": {"wrong_type": 10}, "gone": {"missing": 4}}),
        fragility=[FeatureHealth(column="x", rows=190, null_rate=0.1, out_of_range_rate=0.0)])
    rows = {r["column"]: r for r in _fragility_rows(rel)}
    assert rows["x"]["schema_violation_rate"] == 0.05 and rows["x"]["null_rate"] == 0.1
    assert rows["gone"]["schema_violation_rate"] == 0.02 and rows["gone"]["rows"] == 0
