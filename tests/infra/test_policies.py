"""Stack invariants on the resources the program declares (under Pulumi's mocks, no CLI):
private and encrypted buckets, no public database, nodes in private subnets, IAM scoped to its
own buckets and prefixes, Ray and Serve reachable only by who should reach them, no secret in a
Kubernetes object, tags everywhere. Every policy passes on the repository's stacks and fails on
a deliberately broken variant of the program."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _override_named(
    mp: pytest.MonkeyPatch, module: Any, cls: str, where: Callable[[str], bool], **changes: Any
) -> None:
    """:func:`override` for the resources whose Pulumi name ``where`` accepts; ``None`` as a change
    leaves the resource out."""
    real = getattr(module, cls)

    def make(resource_name: str, *args: Any, **kwargs: Any) -> Any:
        if where(resource_name):
            if any(v is None for v in changes.values()):
                return None
            for k, v in changes.items():
                kwargs[k] = v(kwargs.get(k)) if callable(v) else v
        return real(resource_name, *args, **kwargs)

    mp.setattr(module, cls, make)


def _ingress(fn: Callable[[list], list]) -> Callable[[dict], dict]:
    return lambda spec: {**spec, "ingress": fn(spec["ingress"])}


SERVE = [{"port": 8000, "protocol": "TCP"}, {"port": 9000, "protocol": "TCP"}]


def _allow_all_put_back(mp: pytest.MonkeyPatch) -> None:
    """The rule ferry-ray-ingress had before issue 12: Serve's ports from anywhere."""
    _override_named(
        mp,
        k8s.networking.v1,
        "NetworkPolicy",
        lambda n: n.endswith("-ray-ingress"),
        spec=_ingress(lambda rules: [*rules, {"ports": SERVE}]),
    )


def _client_block(cidr: str) -> Callable[[pytest.MonkeyPatch], None]:
    return lambda mp: _override_named(
        mp,
        k8s.networking.v1,
        "NetworkPolicy",
        lambda n: n.endswith("-serve-clients"),
        spec=_ingress(lambda rules: [{"from": [{"ipBlock": {"cidr": cidr}}], "ports": SERVE}]),
    )


def _team_policy_names(other: str) -> Callable[[pytest.MonkeyPatch], None]:
    selector = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": other}}}
    return lambda mp: _override_named(
        mp,
        k8s.networking.v1,
        "NetworkPolicy",
        lambda n: n == "team-fraud-serve",
        spec=_ingress(lambda rules: [{**r, "from": [selector]} for r in rules]),
    )


def _password_as_env_value(mp: pytest.MonkeyPatch) -> None:
    """The Ray pods get the Redis password as a literal env value (the secret Output itself)."""
    captured: dict[str, Any] = {}
    real_secret = k8s.core.v1.Secret

    def secret(resource_name: str, *args: Any, **kwargs: Any) -> Any:
        if (kwargs.get("metadata") or {}).get("name") == "ferry-feature-redis":
            captured.update(kwargs["string_data"])
        return real_secret(resource_name, *args, **kwargs)

    def inline(template: dict) -> dict:
        for c in template["spec"]["containers"]:
            c["env"] = [
                {"name": e["name"], "value": captured[e["valueFrom"]["secretKeyRef"]["key"]]}
                if "valueFrom" in e
                else e
                for e in c["env"]
            ]
        return template

    def spec(s: dict) -> dict:
        if "headGroupSpec" in s:
            inline(s["headGroupSpec"]["template"])
            for w in s["workerGroupSpecs"]:
                inline(w["template"])
        return s

    mp.setattr(k8s.core.v1, "Secret", secret)
    override(mp, k8s.apiextensions, "CustomResource", spec=spec)


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
    Mutation("serve-allow-all-put-back", "serve-restricted", _allow_all_put_back, "ferry-dev-ray-ingress"),
    Mutation(
        "serve-clients-everyone", "serve-restricted", _client_block("0.0.0.0/0"), "ferry-dev-serve-clients"
    ),
    Mutation(
        "serve-clients-the-vpc", "serve-restricted", _client_block("10.40.0.0/16"), "ferry-dev-serve-clients"
    ),
    Mutation(
        "serve-any-namespace",
        "serve-restricted",
        lambda mp: _override_named(
            mp,
            k8s.networking.v1,
            "NetworkPolicy",
            lambda n: n == "team-fraud-serve",
            spec=_ingress(lambda rules: [{**r, "from": [{"namespaceSelector": {}}]} for r in rules]),
        ),
        "team-fraud-serve",
    ),
    Mutation(
        "serve-load-balancer-snat",
        "serve-restricted",
        lambda mp: override(
            mp, k8s.core.v1, "Service", spec=lambda s: {**s, "externalTrafficPolicy": "Cluster"}
        ),
        "ferry-dev-serve",
    ),
    Mutation(
        "team-policy-names-another-team",
        "serve-per-team",
        _team_policy_names("team-search-ranking"),
        "team-fraud-serve",
    ),
    Mutation(
        "team-without-serve-policy",
        "serve-per-team",
        lambda mp: _override_named(
            mp, k8s.networking.v1, "NetworkPolicy", lambda n: n.startswith("team-search-ranking"), spec=None
        ),
        "team-search-ranking",
    ),
    Mutation(
        "team-policy-every-port",
        "serve-per-team",
        lambda mp: _override_named(
            mp,
            k8s.networking.v1,
            "NetworkPolicy",
            lambda n: n == "team-fraud-serve",
            spec=_ingress(lambda rules: [{"from": r["from"]} for r in rules]),
        ),
        "team-fraud-serve",
    ),
    Mutation(
        "team-namespace-allows-host-network",
        "serve-per-team",
        lambda mp: _override_named(
            mp,
            k8s.core.v1,
            "Namespace",
            lambda n: n == "team-fraud",
            metadata=lambda m: {
                **m,
                "labels": {k: v for k, v in m["labels"].items() if not k.startswith("pod-security")},
            },
        ),
        "team-fraud",
    ),
    Mutation(
        "redis-password-as-env-value", "secrets-not-in-clear", _password_as_env_value, "RayCluster ferry-ray"
    ),
    Mutation(
        "redis-password-in-a-configmap",
        "secrets-not-in-clear",
        lambda mp: _override_named(
            mp,
            k8s.core.v1,
            "ConfigMap",
            lambda n: n == "team-fraud",
            data=lambda d: {**d, "redis_password": "mock-redis-auth-token"},
        ),
        "ConfigMap team-fraud",
    ),
    Mutation(
        "db-password-in-helm-values",
        "secrets-not-in-clear",
        lambda mp: override(
            mp,
            k8s.helm.v3,
            "Release",
            values=lambda v: {**v, "env": [{"name": "PGPASSWORD", "value": "mock-db-password"}]},
        ),
        "ferry-dev-kuberay-operator",
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


def test_the_simulation_runs_after_asyncio_run_left_no_event_loop() -> None:
    """Pulumi's runtime needs the thread's event loop; a test (or caller) that ran
    ``asyncio.run`` before leaves none set, and every simulation then failed."""
    import asyncio

    asyncio.run(asyncio.sleep(0))
    assert simulate_stack(INFRA, "dev").of_type("aws:s3/bucket:Bucket")


def test_every_policy_has_a_broken_variant() -> None:
    assert {m.policy for m in MUTATIONS} == set(POLICIES)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_each_policy_fails_on_a_broken_program(mutation: Mutation, monkeypatch: pytest.MonkeyPatch) -> None:
    mutation.apply(monkeypatch)
    sim = simulate_stack(INFRA, "dev")
    found = POLICIES[mutation.policy](sim)
    assert found, f"{mutation.policy} did not notice {mutation.id}"
    assert any(mutation.culprit in v.resource for v in found), [str(v) for v in found]
