"""Cluster: EKS with its API private (public only for listed CIDRs), secrets encrypted with the
stack's key, managed node groups in the private subnets (CPU always, GPU when configured), and an
OIDC provider for IRSA."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ._config import GpuNodeGroupConfig, NodeGroupConfig, k8s_labels
from ._iam import Oidc, irsa_trust

GPU_TAINT = "nvidia.com/gpu"


@dataclass
class ClusterArgs:
    name: str
    version: str
    subnet_ids: list[pulumi.Output[str]]
    api_public_cidrs: list[str]
    cpu_nodes: NodeGroupConfig
    gpu_nodes: GpuNodeGroupConfig
    kms_key_arn: pulumi.Input[str]
    region: str
    autoscaler_version: str
    device_plugin_version: str
    tags: dict[str, str]


def _assume(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


class Cluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    oidc: Oidc
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    has_gpu: bool

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        role = aws.iam.Role(
            f"{name}-eks", assume_role_policy=_assume("eks.amazonaws.com"), tags=tags, opts=child
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-eks",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child,
        )
        # EKS would create this log group untagged and keep it forever; declared, it is tagged and expires.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/eks/{name}/cluster", retention_in_days=30, tags=tags, opts=child
        )
        cluster = aws.eks.Cluster(
            name,
            name=name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=bool(args.api_public_cidrs),
                public_access_cidrs=args.api_public_cidrs or None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API"),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.kms_key_arn),
            ),
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )

        node_role = aws.iam.Role(
            f"{name}-nodes", assume_role_policy=_assume("ec2.amazonaws.com"), tags=tags, opts=child
        )
        for policy in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
        ):
            aws.iam.RolePolicyAttachment(
                f"{name}-nodes-{policy}",
                role=node_role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=child,
            )
        self._node_group(
            f"{name}-cpu",
            cluster,
            node_role,
            args.subnet_ids,
            args.cpu_nodes,
            "AL2023_x86_64_STANDARD",
            "cpu",
            None,
            tags,
        )
        self.has_gpu = args.gpu_nodes.enabled
        if self.has_gpu:
            self._node_group(
                f"{name}-gpu",
                cluster,
                node_role,
                args.subnet_ids,
                args.gpu_nodes,
                "AL2023_x86_64_NVIDIA",
                "gpu",
                aws.eks.NodeGroupTaintArgs(key=GPU_TAINT, value="true", effect="NO_SCHEDULE"),
                tags,
            )

        issuer_url = cluster.identities.apply(_issuer)
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer_url, client_id_lists=["sts.amazonaws.com"], tags=tags, opts=child
        )
        self.oidc = Oidc(
            provider_arn=provider.arn, issuer=issuer_url.apply(lambda u: u.removeprefix("https://"))
        )
        self.name = cluster.name
        self.node_security_group_id = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name,
                cluster.endpoint,
                cluster.certificate_authority.apply(lambda c: c.data),
            ).apply(lambda a: _kubeconfig(*a))
        )
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)
        # The VPC CNI enforces Kubernetes NetworkPolicies (RayRuntime isolates Ray with one).
        aws.eks.Addon(
            f"{name}-vpc-cni",
            cluster_name=cluster.name,
            addon_name="vpc-cni",
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=child,
        )
        self._autoscaling(name, args)
        self.register_outputs({"name": self.name, "oidc_provider_arn": provider.arn})

    def _autoscaling(self, name: str, args: ClusterArgs) -> None:
        """Cluster Autoscaler (node groups follow pending pods, GPU from zero) and, with GPUs, the
        NVIDIA device plugin, so nodes advertise ``nvidia.com/gpu``."""
        trust = irsa_trust(self.oidc, "kube-system", "cluster-autoscaler")
        role = aws.iam.Role(
            f"{name}-autoscaler",
            assume_role_policy=trust,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-autoscaler",
            role=role.id,
            policy=_autoscaler_policy(name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=self.provider)
        labels = k8s_labels(args.tags)
        k8s.helm.v3.Release(
            f"{name}-cluster-autoscaler",
            chart="cluster-autoscaler",
            version=args.autoscaler_version,
            namespace="kube-system",
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://kubernetes.github.io/autoscaler"),
            values={
                "autoDiscovery": {"clusterName": name},
                "awsRegion": args.region,
                "additionalLabels": labels,
                "rbac": {
                    "serviceAccount": {
                        "name": "cluster-autoscaler",
                        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                    }
                },
                "extraArgs": {"balance-similar-node-groups": True, "skip-nodes-with-system-pods": False},
            },
            opts=k8s_opts,
        )
        if self.has_gpu:
            k8s.helm.v3.Release(
                f"{name}-nvidia-device-plugin",
                chart="nvidia-device-plugin",
                version=args.device_plugin_version,
                namespace="kube-system",
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(
                    repo="https://nvidia.github.io/k8s-device-plugin"
                ),
                values={
                    "nodeSelector": {"ferry.dev/pool": "gpu"},
                    "tolerations": [{"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
                },
                opts=k8s_opts,
            )

    def _node_group(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        role: aws.iam.Role,
        subnet_ids: list[pulumi.Output[str]],
        cfg: NodeGroupConfig,
        ami: str,
        pool: str,
        taint: aws.eks.NodeGroupTaintArgs | None,
        tags: dict[str, str],
    ) -> aws.eks.NodeGroup:
        # Node group tags stay on the group; the launch template's tag the instances and volumes.
        template = aws.ec2.LaunchTemplate(
            name,
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=cfg.disk_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_tokens="required", http_put_response_hop_limit=1, http_endpoint="enabled"
            ),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": name})
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aws.eks.NodeGroup(
            name,
            cluster_name=cluster.name,
            node_role_arn=role.arn,
            subnet_ids=subnet_ids,
            instance_types=cfg.instance_types,
            ami_type=ami,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=cfg.min_size, desired_size=cfg.desired_size, max_size=cfg.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={"ferry.dev/pool": pool},
            taints=[taint] if taint else None,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )


AUTOSCALER_ACTIONS = [
    # Read-only discovery (these APIs take no resource-level permissions, hence Resource "*").
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
]


def _autoscaler_policy(cluster: str) -> str:
    """Scale only this cluster's node groups (EKS tags their Auto Scaling groups as owned)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Discover", "Effect": "Allow", "Action": AUTOSCALER_ACTIONS, "Resource": "*"},
                {
                    "Sid": "ScaleOwnGroups",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:SetDesiredCapacity",
                        "autoscaling:TerminateInstanceInAutoScalingGroup",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}
                    },
                },
            ],
        }
    )


def _issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    """The cluster's OIDC issuer URL (EKS sets it once the cluster exists)."""
    oidcs = identities[0].oidcs if identities else None
    if not oidcs or not oidcs[0].issuer:
        raise ValueError("the EKS cluster reported no OIDC issuer; IRSA needs one")
    return oidcs[0].issuer


def _kubeconfig(name: str, endpoint: str, ca: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name, "--output", "json"],
                        }
                    },
                }
            ],
        }
    )
