"""IAM: one least-privilege role per service, assumed through IRSA by exactly one Kubernetes
service account, allowed only its own buckets and prefixes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

READ = ["s3:GetObject", "s3:GetObjectVersion"]
WRITE = [*READ, "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]


@dataclass(frozen=True)
class S3Grant:
    """Objects under ``prefix`` of one bucket (``prefix`` "" is the whole bucket), read or read-write."""

    bucket_arn: pulumi.Input[str]
    prefix: str
    write: bool = False


@dataclass
class Oidc:
    provider_arn: pulumi.Input[str]
    issuer: pulumi.Input[str]  # without https://


def irsa_trust(oidc: Oidc, namespace: str, service_account: str) -> pulumi.Output[str]:
    """Trust policy: only ``system:serviceaccount:<namespace>:<service_account>`` of this cluster."""
    return pulumi.Output.all(oidc.provider_arn, oidc.issuer).apply(
        lambda a: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": a[0]},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{a[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                f"{a[1]}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )
    )


def irsa_role(
    name: str,
    *,
    oidc: Oidc,
    namespace: str,
    service_account: str,
    grants: Sequence[S3Grant],
    kms_key_arn: pulumi.Input[str],
    region: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """A role only ``system:serviceaccount:<namespace>:<service_account>`` can assume, with S3
    access to exactly ``grants`` and use of the stack's key for those objects."""
    child = pulumi.ResourceOptions(parent=parent)
    trust = irsa_trust(oidc, namespace, service_account)
    role = aws.iam.Role(name, assume_role_policy=trust, tags=tags, opts=child)
    arns = [g.bucket_arn for g in grants]
    policy = pulumi.Output.all(kms_key_arn, *arns).apply(
        lambda a: json.dumps(_policy(a[0], region, list(zip(a[1:], grants, strict=True))))
    )
    aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
    return role


def _policy(kms_arn: str, region: str, grants: list[tuple[str, S3Grant]]) -> dict:
    statements: list[dict[str, Any]] = []
    for i, (arn, g) in enumerate(grants):
        objects = f"{arn}/{g.prefix}*"
        statements.append(
            {
                "Sid": f"Objects{i}",
                "Effect": "Allow",
                "Action": WRITE if g.write else READ,
                "Resource": objects,
            }
        )
        listing: dict[str, Any] = {
            "Sid": f"List{i}",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn,
        }
        if g.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [f"{g.prefix}*"]}}
        statements.append(listing)
    statements.append(
        {
            "Sid": "Key",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": kms_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass
class ServiceRolesArgs:
    oidc: Oidc
    namespace: str
    bucket_arns: dict[str, pulumi.Output[str]]  # purpose -> bucket ARN
    kms_key_arn: pulumi.Input[str]
    region: str
    tags: dict[str, str]


def service_grants(arns: dict[str, pulumi.Output[str]]) -> dict[str, list[S3Grant]]:
    """What each platform service may touch, and nothing else.

    - control plane: registers models (MLflow artifacts), builds releases (Bentos), applies feature
      definitions (registry), reads offline data for training sets and evaluation;
    - serving replicas: import release Bentos, read the feature registry for online lookups,
      write the prediction log (the monitoring job's tasks, on the same pods, read it and the
      releases' references);
    - materialization: reads offline data and the registry (it writes to Redis, not S3).
    """
    return {
        "ferry-control-plane": [
            S3Grant(arns["artifacts"], "", write=True),
            S3Grant(arns["bentos"], "releases/", write=True),
            S3Grant(arns["feature-registry"], "", write=True),
            S3Grant(arns["feature-offline"], ""),
        ],
        "ferry-serving": [
            S3Grant(arns["bentos"], "releases/"),
            S3Grant(arns["feature-registry"], ""),
            S3Grant(arns["artifacts"], "predictions/", write=True),
        ],
        "ferry-materialization": [
            S3Grant(arns["feature-offline"], ""),
            S3Grant(arns["feature-registry"], ""),
        ],
    }


class ServiceRoles(pulumi.ComponentResource):
    """One IRSA role per platform service account (see ``service_grants``)."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ServiceRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:ServiceRoles", name, None, opts)
        self.arns = {}
        for account, grants in service_grants(args.bucket_arns).items():
            role = irsa_role(
                f"{name}-{account.removeprefix('ferry-')}",
                oidc=args.oidc,
                namespace=args.namespace,
                service_account=account,
                grants=grants,
                kms_key_arn=args.kms_key_arn,
                region=args.region,
                tags=args.tags,
                parent=self,
            )
            self.arns[account] = role.arn
        self.register_outputs({"arns": self.arns})
