"""The Prefect server that pipeline runs report to on the cluster: Prefect's own API and UI
(one Deployment and its Service in Ferry's namespace), over Prefect's own PostgreSQL
database — not Ferry's.

Its database URL (``postgresql+asyncpg://...``) lives in the Secret ``databaseSecret`` (key
``url``) of Ferry's namespace, which this component names but never holds (no credential in
Pulumi's state)::

    kubectl -n ferry-system create secret generic ferry-prefect-database \\
        --from-literal=url="postgresql+asyncpg://prefect:...@<metadata-host>:5432/prefect"

The control plane gets ``FERRY_PREFECT_API_URL`` from the stack's ``prefectApiUrl`` output
(``ferry infra settings``)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from ._config import PipelinesConfig, k8s_labels

APP = "ferry-prefect-server"


@dataclass
class PrefectServerArgs:
    provider: k8s.Provider
    namespace: str
    config: PipelinesConfig
    labels: dict[str, str]


class PrefectServer(pulumi.ComponentResource):
    """Prefect's API server (and UI) for pipeline runs; ``api_url`` is where runs report."""

    def __init__(self, name: str, args: PrefectServerArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:PrefectServer", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        cfg = args.config
        labels = {**k8s_labels(args.labels), "app.kubernetes.io/name": APP}
        selector = {"app.kubernetes.io/name": APP}
        env = [
            {"name": "PREFECT_API_DATABASE_CONNECTION_URL", "valueFrom": {
                "secretKeyRef": {"name": cfg.database_secret, "key": "url"}}},
            {"name": "PREFECT_SERVER_API_HOST", "value": "0.0.0.0"},
            {"name": "PREFECT_SERVER_API_PORT", "value": str(cfg.port)},
            {"name": "PREFECT_SERVER_ANALYTICS_ENABLED", "value": "false"},
            {"name": "PREFECT_UI_API_URL", "value": f"http://{APP}.{args.namespace}.svc:"
                                                    f"{cfg.port}/api"},
        ]
        self.deployment = k8s.apps.v1.Deployment(  # type: ignore[call-overload]  # plain dicts
            f"{name}-deployment",
            metadata={"name": APP, "namespace": args.namespace, "labels": labels},
            spec={
                "replicas": cfg.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": {**labels, **selector}},
                    "spec": {
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
                        "containers": [{
                            "name": "prefect-server",
                            "image": cfg.image,
                            "command": ["prefect", "server", "start", "--host", "0.0.0.0",
                                        "--port", str(cfg.port)],
                            "env": env,
                            "ports": [{"containerPort": cfg.port, "name": "api"}],
                            "readinessProbe": {"httpGet": {"path": "/api/health",
                                                           "port": cfg.port},
                                               "periodSeconds": 10},
                            "resources": {"requests": {"cpu": cfg.cpu, "memory": cfg.memory},
                                          "limits": {"memory": cfg.memory}},
                            "securityContext": {"allowPrivilegeEscalation": False},
                        }],
                    },
                },
            },
            opts=k8s_opts,
        )
        self.service = k8s.core.v1.Service(  # type: ignore[call-overload]  # plain dicts
            f"{name}-service",
            metadata={"name": APP, "namespace": args.namespace, "labels": labels},
            spec={"selector": selector, "type": "ClusterIP",
                  "ports": [{"name": "api", "port": cfg.port, "targetPort": cfg.port}]},
            opts=k8s_opts,
        )
        self.api_url = pulumi.Output.from_input(
            f"http://{APP}.{args.namespace}.svc:{cfg.port}/api")
        self.register_outputs({"api_url": self.api_url})
