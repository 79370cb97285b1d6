"""The Ray runtime on EKS: the KubeRay operator (Helm release) and Ferry's RayCluster, whose Serve
instance Ferry's control plane configures declaratively (ADR 0004 says why a RayCluster and not a
RayService). Service accounts carry the IRSA roles; an internal load balancer exposes Serve.

Who reaches the Ray pods (NetworkPolicies, enforced by the VPC CNI's network policy agent): Ferry's
own namespace on every port; each team's namespace on Serve's ports only, by a policy the team's
component declares (:func:`serve_access_policy`); the stack's ``serveClientCidrs`` on Serve's ports
through the load balancer. Nothing else. The router's token check is the authorization; these
policies cut who can try (docs/infrastructure.md says what they do not stop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ._cluster import GPU_TAINT
from ._config import RayConfig, k8s_labels

NAMESPACE = "ferry-system"
RAY_CLUSTER = "ferry-ray"
SERVICE_ACCOUNTS = ("ferry-control-plane", "ferry-serving", "ferry-materialization")
KUBERAY_CHART = "https://ray-project.github.io/kuberay-helm/"
HTTP_PORT, GRPC_PORT, CLIENT_PORT, DASHBOARD_PORT = 8000, 9000, 10001, 8265
SERVE_PORTS = (HTTP_PORT, GRPC_PORT)
RAY_POD_LABELS = {"ray.io/cluster": RAY_CLUSTER}  # KubeRay labels every pod of the cluster with it
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server, cannot be forged
# The serving processes read the Redis AUTH token from this variable; the platform hands replicas a
# connection string without the password (Serve application args are visible to anyone who can
# read Serve's config). On the cluster it comes from this Secret, never as a literal in the pod spec.
REDIS_PASSWORD_ENV = "FERRY_FEATURE_REDIS_PASSWORD"
REDIS_SECRET, REDIS_SECRET_KEY = "ferry-feature-redis", "password"

SERVE_ENV = {
    # What `ferry_platform.serving.serve_env` sets for the default (throughput) serve mode; a test
    # checks the two agree.
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "BENTOML_HOME": "/home/ray/bentoml",
    "BENTOML_DO_NOT_TRACK": "True",
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
    "RAY_SERVE_HAPROXY_STATS_PORT": "8404",
    "RAY_SERVE_HAPROXY_METRICS_PORT": "9101",
    "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": "/tmp/ferry-haproxy/haproxy.cfg",
    "RAY_SERVE_HAPROXY_SOCKET_PATH": "/tmp/ferry-haproxy/admin.sock",
    "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": "/tmp/ferry-haproxy",
    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": "/tmp/ferry-haproxy/server-state",
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
    # The data plane's size limit (FERRY_SERVE_MAX_BODY_MB, 16 MiB) for Serve's gRPC ingress,
    # plus 1 MiB of framing for the router -> release handle calls.
    "RAY_SERVE_GRPC_MAX_MESSAGE_SIZE": "16777216",
    "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH": "17825792",
    # The prediction log and service metrics (the serving processes read these themselves;
    # the log's location, the stack's S3 prefix, is set beside them).
    "FERRY_MONITORING": "true",
    "FERRY_PREDICTION_LOG_SAMPLE": "1.0",
    "FERRY_PREDICTION_LOG_QUEUE": "100000",
    "FERRY_PREDICTION_LOG_FLUSH_S": "1.0",
    "FERRY_METRICS_PUSH_S": "2.0",
}
PREDICTION_LOG_ENV = "FERRY_PREDICTION_LOG_URI"


@dataclass
class RayRuntimeArgs:
    provider: k8s.Provider
    config: RayConfig
    role_arns: dict[str, pulumi.Output[str]]  # service account -> IAM role
    gpu: bool
    region: str
    release_store_uri: pulumi.Input[str]
    prediction_log_uri: pulumi.Input[str]
    redis_auth_token: pulumi.Input[str]  # a secret: goes into a Kubernetes Secret only
    vpc_cidr: str
    serve_client_cidrs: list[str]
    labels: dict[str, str]


def _serve_ports() -> list[dict[str, Any]]:
    return [{"port": p, "protocol": "TCP"} for p in SERVE_PORTS]


def serve_access_policy(
    resource_name: str,
    *,
    client_namespace: str,
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy in Ferry's namespace admitting the pods of ``client_namespace`` to Serve's
    ports (REST, gRPC) of the Ray pods, and to nothing else. Policies add up: each team gets its own,
    so adding or removing a team touches only that team's policy."""
    return k8s.networking.v1.NetworkPolicy(  # type: ignore[call-overload]  # plain dicts for the TypedDicts
        resource_name,
        metadata={"name": f"serve-from-{client_namespace}", "namespace": NAMESPACE, "labels": labels},
        spec={
            "podSelector": {"matchLabels": dict(RAY_POD_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: client_namespace}}}
                    ],
                    "ports": _serve_ports(),
                }
            ],
        },
        opts=opts,
    )


class RayRuntime(pulumi.ComponentResource):
    ray_address: pulumi.Output[str]
    serve_host: pulumi.Output[str]
    system_namespace: k8s.core.v1.Namespace

    def __init__(self, name: str, args: RayRuntimeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:RayRuntime", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = k8s_labels(args.labels)
        ns = k8s.core.v1.Namespace(name, metadata={"name": NAMESPACE, "labels": labels}, opts=k8s_opts)
        self.system_namespace = ns
        in_ns = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[ns])
        for sa in SERVICE_ACCOUNTS:
            k8s.core.v1.ServiceAccount(
                sa,
                metadata={
                    "name": sa,
                    "namespace": NAMESPACE,
                    "labels": labels,
                    "annotations": {"eks.amazonaws.com/role-arn": args.role_arns[sa]},
                },
                opts=in_ns,
            )
        operator = k8s.helm.v3.Release(
            f"{name}-kuberay-operator",
            chart="kuberay-operator",
            version=args.config.kuberay_version,
            namespace=NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=KUBERAY_CHART),
            values={"labels": labels},
            opts=in_ns,
        )

        redis_secret = k8s.core.v1.Secret(
            f"{name}-feature-redis",
            metadata={"name": REDIS_SECRET, "namespace": NAMESPACE, "labels": labels},
            type="Opaque",
            string_data={REDIS_SECRET_KEY: pulumi.Output.secret(args.redis_auth_token)},
            opts=in_ns,
        )

        cfg = args.config
        env: list[dict[str, Any]] = [
            {"name": k, "value": v} for k, v in {**SERVE_ENV, "AWS_REGION": args.region}.items()
        ]
        env.append({"name": "FERRY_RELEASE_STORE_URI", "value": args.release_store_uri})
        env.append({"name": PREDICTION_LOG_ENV, "value": args.prediction_log_uri})
        env.append(
            {
                "name": REDIS_PASSWORD_ENV,
                "valueFrom": {"secretKeyRef": {"name": REDIS_SECRET, "key": REDIS_SECRET_KEY}},
            }
        )
        ports = [
            {"containerPort": p, "name": n}
            for p, n in (
                (6379, "gcs"),
                (DASHBOARD_PORT, "dashboard"),
                (CLIENT_PORT, "client"),
                (HTTP_PORT, "serve"),
                (GRPC_PORT, "grpc"),
            )
        ]

        def pod(container: str, image: str, cpu: int, mem: int, pool: str, gpus: int = 0) -> dict:
            limits = {
                "cpu": str(cpu),
                "memory": f"{mem}Gi",
                **({"nvidia.com/gpu": str(gpus)} if gpus else {}),
            }
            spec: dict = {
                "serviceAccountName": "ferry-serving",
                "nodeSelector": {"ferry.dev/pool": pool},
                "containers": [
                    {
                        "name": container,
                        "image": image,
                        "env": env,
                        "ports": ports,
                        "resources": {"requests": limits, "limits": limits},
                    }
                ],
            }
            if gpus:
                spec["tolerations"] = [{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}]
            return {"metadata": {"labels": labels}, "spec": spec}

        workers = [
            {
                "groupName": "cpu",
                "replicas": cfg.min_workers,
                "minReplicas": cfg.min_workers,
                "maxReplicas": cfg.max_workers,
                "rayStartParams": {},
                "template": pod("ray-worker", cfg.image, cfg.worker_cpu, cfg.worker_memory_gib, "cpu"),
            }
        ]
        if args.gpu:
            workers.append(
                {
                    "groupName": "gpu",
                    "replicas": 0,
                    "minReplicas": 0,
                    "maxReplicas": cfg.max_workers,
                    "rayStartParams": {},
                    "template": pod(
                        "ray-worker", cfg.gpu_image, cfg.worker_cpu, cfg.worker_memory_gib, "gpu", gpus=1
                    ),
                }
            )
        k8s.apiextensions.CustomResource(
            RAY_CLUSTER,
            api_version="ray.io/v1",
            kind="RayCluster",
            metadata={"name": RAY_CLUSTER, "namespace": NAMESPACE, "labels": labels},
            spec={
                "enableInTreeAutoscaling": True,
                "headGroupSpec": {
                    "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                    "template": pod("ray-head", cfg.image, cfg.head_cpu, cfg.head_memory_gib, "cpu"),
                },
                "workerGroupSpecs": workers,
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[operator, redis_secret]
            ),
        )
        # Ray's head runs with auth disabled: only Ferry's own namespace may reach its client,
        # dashboard and GCS ports (a team pod could otherwise run code as `ferry-serving`). Teams
        # reach Serve's ports by their own policies (serve_access_policy, declared by Team).
        k8s.networking.v1.NetworkPolicy(  # type: ignore[call-overload]  # plain dicts for the TypedDicts
            f"{name}-ray-ingress",
            metadata={"name": "ferry-ray-ingress", "namespace": NAMESPACE, "labels": labels},
            spec={
                "podSelector": {"matchLabels": dict(RAY_POD_LABELS)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: NAMESPACE}}}]}
                ],
            },
            opts=in_ns,
        )
        if args.serve_client_cidrs:
            # Clients outside the cluster, through the internal load balancer. The Service keeps
            # their source address (externalTrafficPolicy: Local, below), which is what an ipBlock
            # matches; with an empty list no such rule exists (an empty `from` would admit everyone).
            k8s.networking.v1.NetworkPolicy(  # type: ignore[call-overload]  # plain dicts for the TypedDicts
                f"{name}-serve-clients",
                metadata={"name": "ferry-serve-clients", "namespace": NAMESPACE, "labels": labels},
                spec={
                    "podSelector": {"matchLabels": dict(RAY_POD_LABELS)},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"ipBlock": {"cidr": c}} for c in args.serve_client_cidrs],
                            "ports": _serve_ports(),
                        }
                    ],
                },
                opts=in_ns,
            )
        serve = k8s.core.v1.Service(  # type: ignore[call-overload]  # plain dicts for the TypedDicts
            f"{name}-serve",
            metadata={
                "name": "ferry-serve",
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": {
                    # The in-tree AWS cloud provider reads `-internal` (the Load Balancer Controller
                    # reads `-scheme`); both keep Serve off the internet.
                    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                    "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags": ",".join(
                        f"{k}={v}" for k, v in args.labels.items()
                    ),
                },
            },
            spec={
                "type": "LoadBalancer",
                "selector": dict(RAY_POD_LABELS),
                # The NLB (instance targets) keeps the client's address; Local stops kube-proxy from
                # forwarding to another node under that node's address, so the pods' NetworkPolicies
                # see the real client (the VPC CNI agent admits a pod's own node unconditionally).
                "externalTrafficPolicy": "Local",
                # The nodes' security group admits only these to Serve's node ports: the VPC (pods
                # calling the NLB keep their pod IPs) and the listed clients.
                "loadBalancerSourceRanges": [args.vpc_cidr, *args.serve_client_cidrs],
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT},
                    {"name": "grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT},
                ],
            },
            opts=in_ns,
        )
        self.ray_address = pulumi.Output.from_input(
            f"ray://{RAY_CLUSTER}-head-svc.{NAMESPACE}.svc.cluster.local:{CLIENT_PORT}"
        )
        self.serve_host = serve.status.apply(
            lambda s: (
                (s.load_balancer.ingress or [None])[0].hostname
                if s and s.load_balancer and s.load_balancer.ingress
                else ""
            )
        )
        self.register_outputs({"ray_address": self.ray_address, "serve_host": self.serve_host})
