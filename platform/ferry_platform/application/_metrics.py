"""The control plane's ``GET /v1/metrics``: Prometheus' text format of the data plane's
counts (summed over every serving process by the metrics hub) and of monitoring's gauges
(from each deployment's latest report) and open alerts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ferry_platform.store import AlertRecord

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                     10.0)
"""The data plane's histogram bounds (``serving._metrics.LATENCY_BUCKETS_S``)."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(snapshot: dict[str, Any], reports: dict[str, dict[str, Any]],
           open_alerts: list[AlertRecord], webhook_failures: int = 0) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    class Collector:
        def collect(self) -> Iterator[Any]:
            requests = CounterMetricFamily(
                "ferry_requests", "Prediction requests answered, by deployment, release, arm "
                "and HTTP status", labels=["deployment", "release", "arm", "status"])
            for (dep, rel, arm, status), n in snapshot.get("requests", {}).items():
                requests.add_metric([dep, rel, arm, status], n)
            yield requests
            errors = CounterMetricFamily(
                "ferry_request_errors", "Prediction requests refused or failed, by error code",
                labels=["deployment", "release", "arm", "code"])
            for (dep, rel, arm, code), n in snapshot.get("errors", {}).items():
                errors.add_metric([dep, rel, arm, code], n)
            yield errors
            latency = HistogramMetricFamily(
                "ferry_request_latency_seconds", "Time the router took to answer, seconds",
                labels=["deployment", "release", "arm"])
            for (dep, rel, arm), hist in snapshot.get("latency", {}).items():
                cumulative, buckets = 0.0, []
                for bound, count in zip((*map(str, LATENCY_BUCKETS_S), "+Inf"), hist[:-1],
                                        strict=True):
                    cumulative += count
                    buckets.append((bound, cumulative))
                latency.add_metric([dep, rel, arm], buckets, sum_value=hist[-1])
            yield latency
            rejected = CounterMetricFamily(
                "ferry_rejected_inputs", "Input problems of refused requests (422), by column "
                "and reason", labels=["deployment", "release", "column", "reason"])
            for (dep, rel, col, why), n in snapshot.get("rejected", {}).items():
                rejected.add_metric([dep, rel, col, why], n)
            yield rejected
            yield CounterMetricFamily("ferry_prediction_log_rows", "Rows written to the "
                                      "prediction log", value=snapshot.get("log_written", 0))
            yield CounterMetricFamily("ferry_prediction_log_dropped", "Rows the prediction log "
                                      "dropped (queue full or a failed write)",
                                      value=snapshot.get("log_dropped", 0))
            yield CounterMetricFamily("ferry_alert_webhook_failures", "Alert deliveries to "
                                      "FERRY_ALERT_WEBHOOK_URL that failed",
                                      value=webhook_failures)
            yield from _gauges(reports)
            alerts = GaugeMetricFamily("ferry_alerts_open", "Open monitoring alerts",
                                       labels=["deployment", "kind"])
            counts: dict[tuple[str, str], int] = {}
            for a in open_alerts:
                counts[(a.deployment, a.kind)] = counts.get((a.deployment, a.kind), 0) + 1
            for (dep, kind), n in sorted(counts.items()):
                alerts.add_metric([dep, kind], n)
            yield alerts

    registry = CollectorRegistry()
    registry.register(Collector())  # type: ignore[arg-type]
    return bytes(generate_latest(registry))


def _gauges(reports: dict[str, dict[str, Any]]) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    drift = GaugeMetricFamily("ferry_feature_drift_score", "Drift score of a feature in the "
                              "latest report (the method's scale)",
                              labels=["deployment", "release", "feature", "method"])
    drifted = GaugeMetricFamily("ferry_feature_drifted", "1 if the feature drifted in the "
                                "latest report", labels=["deployment", "release", "feature"])
    prediction = GaugeMetricFamily("ferry_prediction_drift_score", "Drift score of the "
                                   "predictions in the latest report",
                                   labels=["deployment", "release", "output", "method"])
    nulls = GaugeMetricFamily("ferry_feature_null_rate", "Share of null values in the latest "
                              "report's window", labels=["deployment", "release", "feature"])
    outside = GaugeMetricFamily("ferry_feature_out_of_range_rate", "Share of values outside "
                                "the training range", labels=["deployment", "release",
                                                              "feature"])
    unseen = GaugeMetricFamily("ferry_feature_unseen_category_rate", "Share of categories "
                               "the training data lacked", labels=["deployment", "release",
                                                                   "feature"])
    for dep, report in sorted(reports.items()):
        for rel in report.get("releases", []):
            rid = rel["release_id"]
            for d in rel.get("drift", []):
                if d.get("score") is not None:
                    drift.add_metric([dep, rid, d["column"], d.get("method") or ""], d["score"])
                    drifted.add_metric([dep, rid, d["column"]], 1.0 if d.get("drifted") else 0)
            for d in rel.get("prediction_drift", []):
                if d.get("score") is not None:
                    prediction.add_metric([dep, rid, d["column"], d.get("method") or ""],
                                          d["score"])
            for f in rel.get("fragility", []):
                nulls.add_metric([dep, rid, f["column"]], f["null_rate"])
                if f.get("out_of_range_rate") is not None:
                    outside.add_metric([dep, rid, f["column"]], f["out_of_range_rate"])
                if f.get("unseen_category_rate") is not None:
                    unseen.add_metric([dep, rid, f["column"]], f["unseen_category_rate"])
    yield from (drift, drifted, prediction, nulls, outside, unseen)
