"""Stack invariants on the resources the program declares (under Pulumi's mocks, no CLI):
private and encrypted buckets, no public database, nodes in private subnets, IAM scoped to its
own buckets and prefixes, tags everywhere. Every policy passes on the repository's stacks and
fails on a deliberately broken variant of the program."""

from __future__ import annotations

import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from _infra import INFRA, Mutation, drop, edit_json, override

import ferry_infra
from ferry_infra import simulate_stack
from ferry_infra._policies import POLICIES, check


def _widen(doc: dict) -> dict:
    doc["Statement"].append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*"})
    return doc


def _get_star(doc: dict) -> dict:
    for s in doc["Statement"]:
        if s.get("Sid") == "Objects0":
            s["Action"] = ["s3:Get*"]
    return doc


def _any_service_account(doc: dict) -> dict:
    for s in doc["Statement"]:
        for k in list(s.get("Condition", {}).get("StringEquals", {})):
            if k.endswith(":sub"):
                s["Condition"]["StringLike"] = {k: "system:serviceaccount:*:*"}
                del s["Condition"]["StringEquals"][k]
    return doc


def _public_subnets_as_private(mp: pytest.MonkeyPatch) -> None:
    real = ferry_infra._network.Network.__init__

    def init(self, *a, **k):  # type: ignore[no-untyped-def]
        real(self, *a, **k)
        self.private_subnet_ids = self.public_subnet_ids

    mp.setattr(ferry_infra._network.Network, "__init__", init)


def _team_grant_whole_bucket(mp: pytest.MonkeyPatch) -> None:
    real = ferry_infra._team.S3Grant
    mp.setattr(ferry_infra._team, "S3Grant", lambda arn, prefix, write=False: real(arn, "", write))


def _team_tags_from_platform(mp: pytest.MonkeyPatch) -> None:
    real = ferry_infra.StackConfig.tags
    mp.setattr(ferry_infra.StackConfig, "tags", lambda self, team=None, cost_centre=None: real(self))


def _api_open(old: aws.eks.ClusterVpcConfigArgs) -> aws.eks.ClusterVpcConfigArgs:
    return aws.eks.ClusterVpcConfigArgs(
        subnet_ids=old.subnet_ids,
        endpoint_private_access=True,
        endpoint_public_access=True,
        public_access_cidrs=["0.0.0.0/0"],
    )


def _open_ingress(old: list) -> list:
    return [
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=0, to_port=65535, cidr_blocks=["0.0.0.0/0"]
        )
    ]


MUTATIONS = [
    Mutation(
        "public-access-block-off",
        "buckets-private",
        lambda mp: override(mp, aws.s3, "BucketPublicAccessBlock", block_public_policy=False),
        "artifacts",
    ),
    Mutation(
        "public-read-acl",
        "buckets-private",
        lambda mp: override(mp, aws.s3, "Bucket", acl="public-read"),
        "bentos",
    ),
    Mutation(
        "owner-acls-allowed",
        "buckets-private",
        lambda mp: drop(mp, aws.s3, "BucketOwnershipControls"),
        "feature-registry",
    ),
    Mutation(
        "sse-s3-not-kms",
        "buckets-encrypted",
        lambda mp: override(
            mp,
            aws.s3,
            "BucketServerSideEncryptionConfiguration",
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
        ),
        "feature-offline",
    ),
    Mutation(
        "no-tls-only-policy", "buckets-encrypted", lambda mp: drop(mp, aws.s3, "BucketPolicy"), "artifacts"
    ),
    Mutation(
        "versioning-suspended",
        "buckets-versioned",
        lambda mp: override(
            mp,
            aws.s3,
            "BucketVersioning",
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Suspended"),
        ),
        "bentos",
    ),
    Mutation(
        "no-lifecycle",
        "buckets-versioned",
        lambda mp: drop(mp, aws.s3, "BucketLifecycleConfiguration"),
        "artifacts",
    ),
    Mutation(
        "db-public",
        "data-private",
        lambda mp: override(mp, aws.rds, "Instance", publicly_accessible=True),
        "ferry-dev-db",
    ),
    Mutation(
        "db-unencrypted",
        "data-private",
        lambda mp: override(mp, aws.rds, "Instance", storage_encrypted=False),
        "ferry-dev-db",
    ),
    Mutation(
        "db-no-backups",
        "data-private",
        lambda mp: override(mp, aws.rds, "Instance", backup_retention_period=0),
        "ferry-dev-db",
    ),
    Mutation(
        "data-open-to-cidr",
        "data-private",
        lambda mp: override(mp, aws.ec2, "SecurityGroup", ingress=_open_ingress),
        "ferry-dev-db",
    ),
    Mutation(
        "redis-plaintext",
        "data-private",
        lambda mp: override(mp, aws.elasticache, "ReplicationGroup", transit_encryption_enabled=False),
        "ferry-dev-online",
    ),
    Mutation(
        "redis-no-auth",
        "data-private",
        lambda mp: override(mp, aws.elasticache, "ReplicationGroup", auth_token=None),
        "ferry-dev-online",
    ),
    Mutation("data-in-public-subnets", "data-private", _public_subnets_as_private, "ferry-dev-db"),
    Mutation("nodes-in-public-subnets", "nodes-private", _public_subnets_as_private, "ferry-dev-cpu"),
    Mutation(
        "subnets-assign-public-ips",
        "nodes-private",
        lambda mp: override(mp, aws.ec2, "Subnet", map_public_ip_on_launch=True),
        "ferry-dev-gpu",
    ),
    Mutation(
        "api-open-to-internet",
        "nodes-private",
        lambda mp: override(mp, aws.eks, "Cluster", vpc_config=_api_open),
        "ferry-dev",
    ),
    Mutation(
        "policy-reaches-every-bucket",
        "iam-scoped",
        lambda mp: override(mp, aws.iam, "RolePolicy", policy=edit_json(_widen)),
        "ferry-dev-serving",
    ),
    Mutation("team-role-whole-bucket", "iam-scoped", _team_grant_whole_bucket, "team-fraud"),
    Mutation(
        "role-trusts-any-service-account",
        "iam-scoped",
        lambda mp: override(mp, aws.iam, "Role", assume_role_policy=edit_json(_any_service_account)),
        "ferry-dev-materialization",
    ),
    Mutation(
        "redis-transit-preferred",
        "data-private",
        lambda mp: override(mp, aws.elasticache, "ReplicationGroup", transit_encryption_mode="preferred"),
        "ferry-dev-online",
    ),
    Mutation(
        "s3-full-access-attached",
        "iam-scoped",
        lambda mp: override(
            mp, aws.iam, "RolePolicyAttachment", policy_arn="arn:aws:iam::aws:policy/AmazonS3FullAccess"
        ),
        "ferry-dev-eks",
    ),
    Mutation(
        "action-wildcard",
        "iam-scoped",
        lambda mp: override(mp, aws.iam, "RolePolicy", policy=edit_json(_get_star)),
        "team-fraud",
    ),
    Mutation(
        "serve-on-a-public-load-balancer",
        "load-balancers-internal",
        lambda mp: override(mp, k8s.core.v1, "Service", metadata=lambda m: {**m, "annotations": {}}),
        "ferry-dev-serve",
    ),
    Mutation(
        "ray-open-to-every-namespace",
        "ray-isolated",
        lambda mp: drop(mp, k8s.networking.v1, "NetworkPolicy"),
        "ferry-ray",
    ),
    Mutation(
        "ray-client-port-open",
        "ray-isolated",
        lambda mp: override(
            mp,
            k8s.networking.v1,
            "NetworkPolicy",
            spec=lambda s: {**s, "ingress": [*s["ingress"], {"ports": [{"port": 10001, "protocol": "TCP"}]}]},
        ),
        "ferry-ray",
    ),
    Mutation(
        "subnet-untagged",
        "tagged",
        lambda mp: override(mp, aws.ec2, "Subnet", tags=lambda t: {"Name": t["Name"]}),
        "Subnet ferry-dev-private",
    ),
    Mutation(
        "namespace-unlabelled",
        "tagged",
        lambda mp: override(mp, k8s.core.v1, "Namespace", metadata=lambda m: {"name": m["name"]}),
        "Namespace team-fraud",
    ),
    Mutation("team-billed-to-platform", "tagged", _team_tags_from_platform, "team-search-ranking"),
]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_repository_stacks_satisfy_every_policy(stack: str) -> None:
    sim = simulate_stack(INFRA, stack)
    assert len(sim.of_type("aws:s3/bucket:Bucket")) == 4 and sim.of_type("aws:rds/instance:Instance")
    assert [str(v) for v in check(sim)] == []


def test_every_policy_has_a_broken_variant() -> None:
    assert {m.policy for m in MUTATIONS} == set(POLICIES)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_each_policy_fails_on_a_broken_program(mutation: Mutation, monkeypatch: pytest.MonkeyPatch) -> None:
    mutation.apply(monkeypatch)
    sim = simulate_stack(INFRA, "dev")
    found = POLICIES[mutation.policy](sim)
    assert found, f"{mutation.policy} did not notice {mutation.id}"
    assert any(mutation.culprit in v.resource for v in found), [str(v) for v in found]
