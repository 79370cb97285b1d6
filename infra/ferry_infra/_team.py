"""Team: what one ``teams/<name>.yaml`` becomes — a Kubernetes namespace with its quota and its
members' access, an IAM role (IRSA) limited to the team's S3 prefix, that prefix, the team's
Feast project, and the NetworkPolicy that lets the team's namespace reach Serve's ports."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from ._config import k8s_labels
from ._iam import Oidc, S3Grant, irsa_role
from ._ray import serve_access_policy
from ._teams import TeamSpec

SERVICE_ACCOUNT = "ferry-team"
# Pod Security Admission level of team namespaces: `baseline` refuses hostNetwork pods, whose traffic
# would come from their node's address, which the VPC CNI's policy agent always admits to the pods of
# that node (Ray's included, on every port).
POD_SECURITY = {"pod-security.kubernetes.io/enforce": "baseline"}


@dataclass
class TeamArgs:
    spec: TeamSpec
    provider: k8s.Provider
    oidc: Oidc
    buckets: dict[str, aws.s3.Bucket]  # purpose -> bucket
    kms_key_arn: pulumi.Input[str]
    redis_connection: pulumi.Input[str]  # a secret
    serve_namespace: pulumi.Resource  # Ferry's namespace, where the team's Serve policy lives
    region: str
    tags: dict[str, str]


class Team(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    namespace: str
    prefix: str

    def __init__(self, name: str, args: TeamArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:Team", name, None, opts)
        spec = args.spec
        self.namespace = spec.namespace
        self.prefix = f"teams/{spec.name}/"
        labels = k8s_labels(args.tags)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        ns = k8s.core.v1.Namespace(
            name, metadata={"name": spec.namespace, "labels": {**labels, **POD_SECURITY}}, opts=k8s_opts
        )
        in_ns = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[ns])
        serve_access_policy(
            f"{name}-serve",
            client_namespace=spec.namespace,
            labels=labels,
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[args.serve_namespace]
            ),
        )
        q = spec.quotas
        hard = {
            "requests.cpu": str(q.cpu),
            "limits.cpu": str(q.cpu),
            "requests.memory": f"{q.memory_gib}Gi",
            "limits.memory": f"{q.memory_gib}Gi",
            "pods": str(q.pods),
            "requests.nvidia.com/gpu": str(q.gpus if spec.gpu else 0),
        }
        k8s.core.v1.ResourceQuota(
            name,
            metadata={"name": "team-quota", "namespace": spec.namespace, "labels": labels},
            spec={"hard": hard},
            opts=in_ns,
        )
        k8s.rbac.v1.RoleBinding(  # type: ignore[call-overload]  # plain dicts for the TypedDicts
            name,
            metadata={"name": "team-members", "namespace": spec.namespace, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            subjects=[
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": m} for m in spec.members
            ],
            opts=in_ns,
        )

        grants = [
            S3Grant(args.buckets["artifacts"].arn, self.prefix, write=True),
            S3Grant(args.buckets["feature-offline"].arn, self.prefix, write=True),
            S3Grant(args.buckets["feature-registry"].arn, self.prefix, write=True),
        ]
        role = irsa_role(
            name,
            oidc=args.oidc,
            namespace=spec.namespace,
            service_account=SERVICE_ACCOUNT,
            grants=grants,
            kms_key_arn=args.kms_key_arn,
            region=args.region,
            tags=args.tags,
            parent=self,
        )
        k8s.core.v1.ServiceAccount(
            name,
            metadata={
                "name": SERVICE_ACCOUNT,
                "namespace": spec.namespace,
                "labels": labels,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            opts=in_ns,
        )
        for purpose in ("artifacts", "feature-offline", "feature-registry"):
            aws.s3.BucketObjectv2(
                f"{name}-{purpose}-prefix",
                bucket=args.buckets[purpose].id,
                key=f"{self.prefix}OWNER",
                content=f"team {spec.name}; members: {', '.join(spec.members)}\n",
                server_side_encryption="aws:kms",
                kms_key_id=args.kms_key_arn,
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )

        offline = args.buckets["feature-offline"].bucket.apply(lambda b: f"s3://{b}/{self.prefix}")
        registry = args.buckets["feature-registry"].bucket.apply(
            lambda b: f"s3://{b}/{self.prefix}registry.pb"
        )
        store = pulumi.Output.all(registry, offline).apply(
            lambda a: yaml.safe_dump(
                {
                    "project": spec.name.replace("-", "_"),
                    "registry": a[0],
                    "provider": "aws",
                    "offline_store": {"type": "file"},
                    # The connection string (TLS, AUTH token) comes from the Secret below, as env.
                    "online_store": {"type": "redis", "connection_string": "${FERRY_FEATURE_REDIS}"},
                    "entity_key_serialization_version": 3,
                },
                sort_keys=False,
            )
        )
        k8s.core.v1.ConfigMap(
            name,
            metadata={"name": "feast-project", "namespace": spec.namespace, "labels": labels},
            data={"feature_store.yaml": store, "offline_prefix": offline},
            opts=in_ns,
        )
        k8s.core.v1.Secret(
            name,
            metadata={"name": "feast-online", "namespace": spec.namespace, "labels": labels},
            string_data={"FERRY_FEATURE_REDIS": args.redis_connection},
            opts=in_ns,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": role.arn, "namespace": spec.namespace})
