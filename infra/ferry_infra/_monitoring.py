"""Service metrics on the cluster path: the Prometheus Operator scrapes the control plane's
``GET /v1/metrics`` (the data plane's counts, summed over every serving process, and the
monitoring gauges), and Grafana's sidecar loads Ferry's dashboard.

The scrape authenticates with a Ferry API token (every call but the health probe needs one):
give it a predict-only token, created once the platform runs and kept in the Secret
``tokenSecret`` (key ``token``) of Ferry's namespace, which this component names but never
holds (no Ferry credential in Pulumi's state)::

    kubectl -n ferry-system create secret generic ferry-metrics-token \\
        --from-literal=token="$(ferry tokens create --scope predict -o json | jq -r .token)"

Needs the Prometheus Operator's CRDs (kube-prometheus-stack); the dashboard ConfigMap carries
the label its Grafana sidecar watches."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from ._config import MonitoringConfig, k8s_labels

DASHBOARD = Path(__file__).with_name("grafana-dashboard.json")
METRICS_PATH = "/v1/metrics"


@dataclass
class MetricsScrapeArgs:
    provider: k8s.Provider
    namespace: str
    config: MonitoringConfig
    labels: dict[str, str]


class MetricsScrape(pulumi.ComponentResource):
    """A ``ScrapeConfig`` of the control plane's metrics and Grafana's dashboard."""

    def __init__(self, name: str, args: MetricsScrapeArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:MetricsScrape", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        cfg = args.config
        labels = {**k8s_labels(args.labels), **cfg.prometheus_labels}
        self.scrape = k8s.apiextensions.CustomResource(
            f"{name}-scrape",
            api_version="monitoring.coreos.com/v1alpha1",
            kind="ScrapeConfig",
            metadata={"name": "ferry-control-plane", "namespace": args.namespace,
                      "labels": labels},
            spec={
                "metricsPath": METRICS_PATH,
                "scheme": cfg.scheme.upper(),
                "scrapeInterval": cfg.scrape_interval,
                "staticConfigs": [{"targets": [cfg.control_plane_target],
                                   "labels": {"job": "ferry-control-plane"}}],
                "authorization": {"type": "Bearer", "credentials": {
                    "name": cfg.token_secret, "key": "token"}},
            },
            opts=k8s_opts,
        )
        dashboard = json.loads(DASHBOARD.read_text())
        self.dashboard = k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata={"name": "ferry-grafana-dashboard", "namespace": args.namespace,
                      "labels": {**k8s_labels(args.labels), cfg.dashboard_label: "1"}},
            data={"ferry.json": json.dumps(dashboard)},
            opts=k8s_opts,
        )
        self.register_outputs({})
