"""The monitoring capability on prediction logs written by the real writer, from the hidden
generator's traffic: drift where it was injected and nowhere else, a bounded false-alarm
rate, prediction drift under a label-prior shift, fragility at the injected rates, slice
gaps once labels arrive, business value per arm, canary checks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _models import sklearn_pipeline, training_frame
from _monitoring import SIGNATURE, churn_reference, oversample_positives, write_traffic
from _synth import churn
from scipy import stats

from ferry_platform.monitoring import LocalExecutor, MonitoringService, evaluate

DEFAULTS: dict[str, Any] = {"min_rows": 100, "null_rate_max": 0.05, "out_of_range_max": 0.05,
                            "unseen_category_max": 0.05, "slice_gap_max": 0.1,
                            "min_slice_rows": 30, "error_rate_max": 0.05}
METRICS = "ferry_platform.evaluation._metrics:metrics_for"


@pytest.fixture(scope="module")
def model() -> Any:
    return sklearn_pipeline()


@pytest.fixture(scope="module")
def reference(model: Any) -> Any:
    return churn_reference(model)


@pytest.fixture
def svc(tmp_path: Path, reference: Any) -> MonitoringService:
    s = MonitoringService(str(tmp_path / "log"), str(tmp_path / "refs"),
                          executor=LocalExecutor(), metrics_fn=METRICS)
    for rid in ("churn-v1-a", "churn-v2-b"):
        s.record_reference(release_id=rid, model="churn", version=1, signature=SIGNATURE,
                           sample=reference, source="training")
    return s


def report(svc: MonitoringService, deployment: str = "churn", *, slices: tuple[str, ...] = (),
           releases: tuple[str, ...] = ("churn-v1-a",), **thresholds: Any) -> dict[str, Any]:
    end = datetime.now(UTC) + timedelta(seconds=5)
    return svc.report(deployment=deployment, window="1h", start=end - timedelta(hours=1),
                      end=end, releases=[svc.release_spec(r, "churn", 1, SIGNATURE)
                                         for r in releases],
                      thresholds={**DEFAULTS, **thresholds}, slice_columns=slices)


def kinds(rep: dict[str, Any], **thresholds: Any) -> set[tuple[str, str]]:
    firing, _ = evaluate(rep, {**DEFAULTS, **thresholds})
    return {(c.kind, c.subject) for c in firing}


def drifted(rep: dict[str, Any]) -> set[str]:
    [rel] = rep["releases"]
    return {d["column"] for d in rel["drift"] if d["drifted"]}


def test_the_reference_is_recorded_once_and_never_replaced(svc: MonitoringService,
                                                           reference: Any) -> None:
    first = svc.reference("churn-v1-a")
    assert first is not None and first["source"] == "training"
    assert first["columns"]["plan"]["categories"] == ["basic", "pro"]
    assert first["columns"]["tickets"]["kind"] == "numeric" and first["sample_rows"] == 2000
    changed = reference.model_copy(update={"rows_total": 1})
    again = svc.record_reference(release_id="churn-v1-a", model="churn", version=1,
                                 signature=SIGNATURE, sample=changed, source="training")
    assert again == first["digest"] and svc.reference("churn-v1-a")["rows_total"] == 3000


def test_a_shift_in_one_feature_is_flagged_for_that_feature_and_no_other(
        svc: MonitoringService, model: Any) -> None:
    live = churn(1500, seed=21)
    live["monthly"] = live["monthly"] + 0.6 * live["monthly"].std()
    write_traffic(svc.log_uri, live, model)
    rep = report(svc)
    assert drifted(rep) == {"monthly"}
    drift = {d["column"]: d for d in rep["releases"][0]["drift"]}
    assert drift["monthly"]["method"] == "wasserstein"  # Evidently's default, reference > 1000
    assert ("drift", "monthly") in kinds(rep)
    assert not {s for k, s in kinds(rep) if k == "drift"} - {"monthly"}


def test_without_a_shift_no_window_alarms_and_the_same_windows_shifted_all_do(
        svc: MonitoringService, model: Any) -> None:
    windows = 16
    for i in range(windows):
        clean = churn(400, seed=1000 + i)
        write_traffic(svc.log_uri, clean, model, deployment=f"clean-{i}")
        shifted = clean.assign(income=clean["income"] * 1.5)
        write_traffic(svc.log_uri, shifted, model, deployment=f"shift-{i}")
    false_alarms = sum(bool({k for k, _ in kinds(report(svc, f"clean-{i}"))
                             if k in ("drift", "prediction_drift")}) for i in range(windows))
    caught = sum(("drift", "income") in kinds(report(svc, f"shift-{i}"))
                 for i in range(windows))
    assert false_alarms <= 1, f"{false_alarms} of {windows} windows without a shift alarmed"
    assert caught == windows


def test_prediction_drift_follows_a_label_prior_shift(svc: MonitoringService,
                                                      model: Any) -> None:
    pool = churn(20_000, seed=33)
    natural = pool.sample(800, random_state=1)
    write_traffic(svc.log_uri, natural, model, deployment="natural")
    shifted = oversample_positives(pool, 800, positive_share=0.85, seed=2)
    write_traffic(svc.log_uri, shifted, model, deployment="prior-shift")
    calm = {d["column"]: d for d in report(svc, "natural")["releases"][0]["prediction_drift"]}
    moved = {d["column"]: d for d in report(svc, "prior-shift")["releases"][0]
             ["prediction_drift"]}
    assert set(moved) == {"prediction", "probability(1)"}
    assert not any(d["drifted"] for d in calm.values())
    assert moved["prediction"]["drifted"] and moved["probability(1)"]["drifted"]
    assert moved["probability(1)"]["score"] > 3 * calm["probability(1)"]["score"]


def test_injected_nulls_out_of_range_values_and_unseen_categories_show_at_their_rates(
        svc: MonitoringService, model: Any) -> None:
    rng = np.random.default_rng(4)
    live = churn(2000, seed=44)
    write_traffic(svc.log_uri, live, model, deployment="clean")
    broken = live.copy().astype({"income": object, "tickets": object, "plan": object})
    nulls = rng.random(len(broken)) < 0.20
    broken.loc[nulls, "income"] = None
    far = rng.random(len(broken)) < 0.10
    broken.loc[far, "tickets"] = 40  # training saw 0-5
    unseen = rng.random(len(broken)) < 0.15
    broken.loc[unseen, "plan"] = "enterprise"
    write_traffic(svc.log_uri, broken, model, deployment="broken")
    health = {f["column"]: f for f in report(svc, "broken")["releases"][0]["fragility"]}
    assert health["income"]["null_rate"] == pytest.approx(nulls.mean(), abs=1e-9)
    seen = training_frame()["tickets"].max()  # a few live rows pass it by nature, too
    outside = far | (live["tickets"] > seen).to_numpy()
    assert health["tickets"]["out_of_range_rate"] == pytest.approx(outside.mean(), abs=1e-9)
    assert health["plan"]["unseen_category_rate"] == pytest.approx(unseen.mean(), abs=1e-9)
    assert health["plan"]["unseen_examples"] == ["enterprise"]
    fragile = {k for k in kinds(report(svc, "broken"))
               if k[0] in ("null_rate", "out_of_range", "unseen_category")}
    assert fragile == {("null_rate", "income"), ("out_of_range", "tickets"),
                       ("unseen_category", "plan")}
    assert not {k for k in kinds(report(svc, "clean"))
                if k[0] in ("null_rate", "out_of_range", "unseen_category")}


def test_a_window_with_too_few_rows_says_not_enough_data(svc: MonitoringService,
                                                         model: Any) -> None:
    live = churn(30, seed=5)
    live["monthly"] = live["monthly"] * 3  # shifted, but too little to say so
    write_traffic(svc.log_uri, live, model)
    rep = report(svc)
    rel = rep["releases"][0]
    assert all(d["status"] == "not_enough_data" and d["score"] is None for d in rel["drift"])
    assert any("not enough data" in n for n in rel["notes"])
    assert not {k for k, _ in kinds(rep) if k in ("drift", "prediction_drift")}


def _labelled(svc: MonitoringService, frame: pd.DataFrame, ids: list[str]) -> None:
    svc.save_outcomes("churn", [{"request_id": rid, "row": 0, "label": int(y),
                                 "value": None, "release_id": "churn-v1-a", "arm": "stable"}
                                for rid, y in zip(ids, frame["churned"], strict=True)])


def test_a_model_that_breaks_for_one_slice_raises_a_slice_gap_once_labels_arrive(
        svc: MonitoringService, model: Any) -> None:
    live = churn(1600, seed=55)
    said = np.asarray(model.predict(live[["tenure", "monthly", "income", "tickets", "plan"]]))
    pro = (live["plan"] == "pro").to_numpy()
    said[pro] = 1 - said[pro]  # wrong on every "pro" customer
    ids = write_traffic(svc.log_uri, live, model, predictions=said.tolist(),
                        probabilities=False)
    before = kinds(report(svc, slices=("plan",)))
    assert not {k for k in before if k[0] == "slice_gap"}  # no labels yet: no slice alert
    _labelled(svc, live, ids)
    rep = report(svc, slices=("plan",))
    groups = {g["group"]: g for g in rep["releases"][0]["slices"]}
    assert groups["pro"]["accuracy"] < 0.4 < 0.6 < groups["basic"]["accuracy"]
    assert ("slice_gap", "plan:accuracy") in kinds(rep)


def test_a_model_fair_on_balanced_slices_raises_no_slice_gap(svc: MonitoringService,
                                                            model: Any) -> None:
    live = churn(1600, seed=56)
    ids = write_traffic(svc.log_uri, live, model)
    _labelled(svc, live, ids)
    rep = report(svc, slices=("plan",))
    assert rep["releases"][0]["labelled"] == 1600
    assert rep["releases"][0]["metrics"]["roc_auc"] > 0.7
    assert not {k for k in kinds(rep) if k[0] == "slice_gap"}


def test_business_value_per_arm_and_the_lift_match_scipy(svc: MonitoringService,
                                                         model: Any) -> None:
    rng = np.random.default_rng(9)
    stable_rows, canary_rows = churn(500, seed=61), churn(300, seed=62)
    a = write_traffic(svc.log_uri, stable_rows, model, request_prefix="a")
    b = write_traffic(svc.log_uri, canary_rows, model, request_prefix="b",
                      release_id="churn-v2-b", arm="canary", version=2)
    va, vb = rng.gamma(4.0, 3.0, len(a)), rng.gamma(4.0, 3.3, len(b))
    keep_a, keep_b = rng.random(len(a)) < 0.8, rng.random(len(b)) < 0.7  # late and partial
    svc.save_outcomes("churn", [{"request_id": r, "row": 0, "label": None, "value": float(v),
                                 "release_id": "churn-v1-a", "arm": "stable"}
                                for r, v, k in zip(a, va, keep_a, strict=True) if k] +
                      [{"request_id": r, "row": 0, "label": None, "value": float(v),
                        "release_id": "churn-v2-b", "arm": "canary"}
                       for r, v, k in zip(b, vb, keep_b, strict=True) if k])
    rep = report(svc, releases=("churn-v1-a", "churn-v2-b"))
    values = {v["arm"]: v for v in rep["business_value"]}
    for arm, x in (("stable", va[keep_a]), ("canary", vb[keep_b])):
        low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert values[arm]["n"] == len(x)
        assert values[arm]["mean"] == pytest.approx(x.mean())
        assert (values[arm]["ci_low"], values[arm]["ci_high"]) == pytest.approx((low, high))
    welch = stats.ttest_ind(vb[keep_b], va[keep_a], equal_var=False).confidence_interval(0.95)
    assert values["canary"]["lift"] == pytest.approx(vb[keep_b].mean() - va[keep_a].mean())
    assert (values["canary"]["lift_ci_low"], values["canary"]["lift_ci_high"]) == \
        pytest.approx((welch.low, welch.high))


def test_a_canary_check_fails_on_errors_and_latency_and_waits_for_enough_requests(
        svc: MonitoringService, model: Any) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    stable, cand = (svc.release_spec(r, "churn", 1, SIGNATURE) for r in ("churn-v1-a",
                                                                         "churn-v2-b"))
    config = {"max_error_rate": 0.02, "max_p99_ms": 100.0, "min_requests": 100}
    write_traffic(svc.log_uri, churn(600, seed=71), model, request_prefix="s")
    few = churn(50, seed=72)
    write_traffic(svc.log_uri, few, model, request_prefix="c", release_id="churn-v2-b",
                  arm="canary")
    check = svc.canary(deployment="churn", stable=stable, candidate=cand, since=since,
                       config=config)
    assert check["verdict"] == "insufficient" and check["candidate"]["requests"] == 50
    rng = np.random.default_rng(7)
    more = churn(250, seed=73)
    errors = rng.random(len(more)) < 0.3
    write_traffic(svc.log_uri, more, model, request_prefix="d", release_id="churn-v2-b",
                  arm="canary", status=np.where(errors, 500, 200).tolist(),
                  latency_ms=np.full(len(more), 130.0).tolist())
    check = svc.canary(deployment="churn", stable=stable, candidate=cand, since=since,
                       config=config)
    assert check["verdict"] == "failed"
    assert check["candidate"]["error_rate"] == pytest.approx(errors.sum() / 300)
    assert check["stable"]["errors"] == 0
    failed = {c["name"] for c in check["checks"] if not c["passed"]}
    assert failed == {"error_rate", "p99_ms"}


def test_training_serving_skew_compares_served_values_with_the_offline_stores(
        svc: MonitoringService) -> None:
    """A feature-backed release: the values its replicas were served (logged, with the
    entity keys) against the offline store's for the same entity and time."""
    from ferry_contract import ColumnSpec
    from ferry_platform.application._monitoring import skew
    from ferry_platform.core import ReleaseManifest
    from ferry_platform.serving._predlog import Entry, LogConfig, PredictionLog, ReleaseInfo

    rng = np.random.default_rng(12)
    n = 300
    customers = rng.integers(1, 10_000, n)
    offline = rng.gamma(3.0, 40.0, n).round(2)
    stale = rng.random(n) < 0.2  # the online store lagged for these
    served = np.where(stale, offline * 0.5, offline)
    info = ReleaseInfo("spend", 1, "spend-v1-f", (("spend", "double"), ("customer_id", "long")))
    log = PredictionLog(LogConfig(uri=svc.log_uri))
    now = time.time()
    for i in range(n):
        log.record(Entry(release=info, ts=now, request_id=f"k{i}", deployment="spend",
                         arm="stable", status=200, latency_ms=1.0,
                         columns={"spend": [float(served[i])],
                                  "customer_id": [int(customers[i])]}, predictions=[1]))
    log.flush()
    by_customer = dict(zip(customers.tolist(), offline.tolist(), strict=True))

    class Offline:
        """The features capability's point-in-time read, as the platform hands it over."""

        def training_set(self, refs: list[str], entities: pd.DataFrame) -> Any:
            assert refs == ["stats@v1:spend"] and "event_timestamp" in entities
            frame = entities.assign(spend=[by_customer[c] for c in entities["customer_id"]])
            return type("TrainingSet", (), {"frame": frame})()

        def join_key_types(self, refs: list[str]) -> dict[str, str]:
            return {"customer_id": "long"}

    spend, customer = ColumnSpec(name="spend", type="double"), ColumnSpec(
        name="customer_id", type="long")
    # the entity key logged beside the inputs, or one of the model's inputs itself
    for signature in ([spend], [spend, customer]):
        manifest = ReleaseManifest(
            release_id="spend-v1-f", model="spend", version=1, model_uri="m", model_digest="d",
            training_data_digest="t", code_version="c", framework="sklearn", ferry_version="0",
            bento_tag="b", signature=signature)
        end = datetime.now(UTC) + timedelta(minutes=1)
        [found], note = skew(svc, Offline(), "spend", manifest, ["stats@v1:spend"],
                             end - timedelta(hours=1), end)
        assert note is None and found["column"] == "spend" and found["compared"] == 200
        sample_stale = found["mismatch_rate"]
        assert abs(sample_stale - stale.mean()) < 0.1  # 200 of the 300 requests, sampled
        assert found["mean_abs_diff"] > 0


def test_a_report_draws_its_picture(svc: MonitoringService, model: Any, tmp_path: Path) -> None:
    import ferry
    from ferry_contract import MonitoringReportPublic

    live = churn(800, seed=57)
    live["monthly"] = live["monthly"] * 1.5
    ids = write_traffic(svc.log_uri, live, model)
    _labelled(svc, live, ids)
    raw = report(svc, slices=("plan",))
    now = datetime.now(UTC)
    picture = ferry.MonitoringReport(MonitoringReportPublic.model_validate({
        **raw, "deployment": "churn", "window": "1h", "start": now - timedelta(hours=1),
        "end": now, "generated_at": now}))
    assert "monthly" in picture.drifted()
    out = picture.plot(tmp_path / "churn.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
