"""Policies every stack must satisfy, checked on the resources the program declares (under mocks in
the tests and in ``ferry infra preview``; the same rules could run as a Pulumi CrossGuard pack at
``pulumi up``). Each returns violations naming the resource and the rule it breaks; none is
the program's own bookkeeping, so a careless edit to a component shows up here."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._simulate import SimResource, Simulation

REQUIRED_TAGS = ("project", "stack", "team", "cost-centre")


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


def _by_bucket(sim: Simulation, type_: str) -> dict[str, list[SimResource]]:
    found: dict[str, list[SimResource]] = {}
    for r in sim.of_type(type_):
        found.setdefault(r.inputs.get("bucket", ""), []).append(r)
    return found


def _bucket_ids(sim: Simulation) -> list[SimResource]:
    return sim.of_type("aws:s3/bucket:Bucket")


def buckets_private(sim: Simulation) -> list[Violation]:
    """Every bucket blocks public ACLs and policies and enforces bucket-owner ownership."""
    out = []
    pabs = _by_bucket(sim, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    own = _by_bucket(sim, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for b in _bucket_ids(sim):
        blocks = pabs.get(b.id, [])
        if not any(all(p.inputs.get(f) is True for f in flags) for p in blocks):
            out.append(
                Violation("buckets-private", b.name, f"needs a public access block with {flags} all true")
            )
        if not any(
            o.inputs.get("rule", {}).get("objectOwnership") == "BucketOwnerEnforced"
            for o in own.get(b.id, [])
        ):
            out.append(
                Violation("buckets-private", b.name, "needs object ownership BucketOwnerEnforced (no ACLs)")
            )
        if b.inputs.get("acl") not in (None, "private"):
            out.append(Violation("buckets-private", b.name, f"acl {b.inputs['acl']!r} is not private"))
    return out


def buckets_encrypted(sim: Simulation) -> list[Violation]:
    """Every bucket encrypts with SSE-KMS under a customer key and refuses plain HTTP."""
    out = []
    sse = _by_bucket(
        sim, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    policies = _by_bucket(sim, "aws:s3/bucketPolicy:BucketPolicy")
    for b in _bucket_ids(sim):
        rules = [
            rule.get("applyServerSideEncryptionByDefault", {})
            for c in sse.get(b.id, [])
            for rule in c.inputs.get("rules", [])
        ]
        if not any(r.get("sseAlgorithm") == "aws:kms" and r.get("kmsMasterKeyId") for r in rules):
            out.append(Violation("buckets-encrypted", b.name, "needs SSE-KMS (aws:kms with the stack's key)"))
        denies_http = False
        for p in policies.get(b.id, []):
            for s in json.loads(p.inputs.get("policy", "{}")).get("Statement", []):
                cond = s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
                denies_http |= s.get("Effect") == "Deny" and cond == "false"
        if not denies_http:
            out.append(
                Violation("buckets-encrypted", b.name, "needs a policy denying aws:SecureTransport false")
            )
    return out


def buckets_versioned(sim: Simulation) -> list[Violation]:
    """Every bucket is versioned and expires old versions (lifecycle rules)."""
    out = []
    ver = _by_bucket(sim, "aws:s3/bucketVersioning:BucketVersioning")
    life = _by_bucket(sim, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    for b in _bucket_ids(sim):
        if not any(
            v.inputs.get("versioningConfiguration", {}).get("status") == "Enabled" for v in ver.get(b.id, [])
        ):
            out.append(Violation("buckets-versioned", b.name, "needs versioning Enabled"))
        rules = [
            r for c in life.get(b.id, []) for r in c.inputs.get("rules", []) if r.get("status") == "Enabled"
        ]
        if not any(r.get("noncurrentVersionExpiration", {}).get("noncurrentDays") for r in rules):
            out.append(
                Violation("buckets-versioned", b.name, "needs a lifecycle rule expiring noncurrent versions")
            )
    return out


def _subnet_tiers(sim: Simulation) -> dict[str, str]:
    """Subnet id -> "private" only if it is tagged private, assigns no public IPs, and its route
    table sends the internet through a NAT gateway rather than an internet gateway."""
    tables = {r.id: r for r in sim.of_type("aws:ec2/routeTable:RouteTable")}
    assoc = {
        a.inputs.get("subnetId"): a.inputs.get("routeTableId")
        for a in sim.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    tiers = {}
    for s in sim.of_type("aws:ec2/subnet:Subnet"):
        routes = tables.get(assoc.get(s.id) or "", SimResource("", "", {}, "")).inputs.get("routes", [])
        via_igw = any(r.get("gatewayId") for r in routes)
        private = (
            s.inputs.get("tags", {}).get("ferry:tier") == "private"
            and not via_igw
            and not s.inputs.get("mapPublicIpOnLaunch")
        )
        tiers[s.id] = "private" if private else "public"
    return tiers


def _in_private(
    sim: Simulation, resource: SimResource, subnet_ids: list[str], policy: str
) -> list[Violation]:
    tiers = _subnet_tiers(sim)
    bad = [s for s in subnet_ids if tiers.get(s) != "private"]
    if bad or not subnet_ids:
        return [Violation(policy, resource.name, f"subnets {bad or subnet_ids} are not private subnets")]
    return []


def _sg_open(sim: Simulation, sg_ids: list[str], policy: str) -> list[Violation]:
    sgs = sim.by_id()
    out = []
    for sg in (sgs[i] for i in sg_ids if i in sgs):
        for rule in sg.inputs.get("ingress", []):
            if rule.get("cidrBlocks") or rule.get("ipv6CidrBlocks"):
                out.append(
                    Violation(
                        policy,
                        sg.name,
                        f"ingress from CIDRs {rule.get('cidrBlocks')}; "
                        "allow the cluster's security group only",
                    )
                )
    return out


def data_stores_private(sim: Simulation) -> list[Violation]:
    """RDS and ElastiCache: private subnets, no public address, reachable from the nodes only,
    encrypted at rest (and Redis in transit, with AUTH), backups on."""
    out = []
    groups = {
        key: r
        for r in sim.resources
        if r.type in ("aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup")
        for key in (r.id, r.name)
    }  # referenced by name
    for db in sim.of_type("aws:rds/instance:Instance"):
        i = db.inputs
        if i.get("publiclyAccessible"):
            out.append(Violation("data-private", db.name, "publiclyAccessible must be false"))
        if not i.get("storageEncrypted") or not i.get("kmsKeyId"):
            out.append(Violation("data-private", db.name, "storage must be encrypted with the stack's key"))
        if (i.get("backupRetentionPeriod") or 0) < 1:
            out.append(Violation("data-private", db.name, "backups must be on (backupRetentionPeriod >= 1)"))
        group = groups.get(i.get("dbSubnetGroupName") or "")
        out += _in_private(sim, db, group.inputs.get("subnetIds", []) if group else [], "data-private")
        out += _sg_open(sim, i.get("vpcSecurityGroupIds", []), "data-private")
    for rg in sim.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        i = rg.inputs
        for flag in ("atRestEncryptionEnabled", "transitEncryptionEnabled"):
            if not i.get(flag):
                out.append(Violation("data-private", rg.name, f"{flag} must be true"))
        if not i.get("authToken"):
            out.append(Violation("data-private", rg.name, "needs an AUTH token"))
        group = groups.get(i.get("subnetGroupName") or "")
        out += _in_private(sim, rg, group.inputs.get("subnetIds", []) if group else [], "data-private")
        out += _sg_open(sim, i.get("securityGroupIds", []), "data-private")
    return out


def nodes_private(sim: Simulation) -> list[Violation]:
    """Node groups and the EKS control plane's interfaces sit in private subnets; the API is
    public only to listed CIDRs."""
    out = []
    for ng in sim.of_type("aws:eks/nodeGroup:NodeGroup"):
        out += _in_private(sim, ng, ng.inputs.get("subnetIds", []), "nodes-private")
    for c in sim.of_type("aws:eks/cluster:Cluster"):
        vpc = c.inputs.get("vpcConfig", {})
        out += _in_private(sim, c, vpc.get("subnetIds", []), "nodes-private")
        if vpc.get("endpointPublicAccess") and (
            not vpc.get("publicAccessCidrs") or "0.0.0.0/0" in vpc.get("publicAccessCidrs", [])
        ):
            out.append(Violation("nodes-private", c.name, "public API endpoint open to the internet"))
    return out


def iam_scoped(sim: Simulation) -> list[Violation]:
    """No wildcard actions or resources; S3 access only to the stack's buckets; team roles only
    to their own ``teams/<team>/`` prefix; each role assumable by one service account."""
    out = []
    buckets = {b.inputs.get("bucket") or b.id for b in _bucket_ids(sim)}
    roles = {r.id: r for r in sim.of_type("aws:iam/role:Role")}
    for p in sim.of_type("aws:iam/rolePolicy:RolePolicy"):
        doc = json.loads(p.inputs.get("policy", "{}"))
        team = p.name.removeprefix("team-") if p.name.startswith("team-") else None
        for s in doc.get("Statement", []):
            actions = s.get("Action") if isinstance(s.get("Action"), list) else [s.get("Action")]
            resources = s.get("Resource") if isinstance(s.get("Resource"), list) else [s.get("Resource")]
            if any(a in ("*", "s3:*") or a.endswith(":*") for a in actions):
                out.append(Violation("iam-scoped", p.name, f"wildcard action in {actions}"))
            for res in resources:
                if res == "*" or (
                    res.startswith("arn:aws:s3:::")
                    and res.removeprefix("arn:aws:s3:::").split("/")[0] not in buckets
                ):
                    out.append(
                        Violation("iam-scoped", p.name, f"resource {res!r} is not one of the stack's buckets")
                    )
                elif (
                    team
                    and res.startswith("arn:aws:s3:::")
                    and "/" in res
                    and not res.split("/", 1)[1].startswith(f"teams/{team}/")
                ):
                    out.append(
                        Violation("iam-scoped", p.name, f"team role reaches {res!r} outside teams/{team}/")
                    )
            if team and "s3:ListBucket" in actions:
                prefixes = s.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
                if not prefixes or any(not x.startswith(f"teams/{team}/") for x in prefixes):
                    out.append(Violation("iam-scoped", p.name, f"team role lists outside teams/{team}/"))
        role = roles.get(p.inputs.get("role", ""))
        trust = json.loads(role.inputs.get("assumeRolePolicy", "{}")) if role else {}
        for s in trust.get("Statement", []):
            subs = [
                v for k, v in s.get("Condition", {}).get("StringEquals", {}).items() if k.endswith(":sub")
            ]
            if len(subs) != 1 or "*" in subs[0]:
                out.append(
                    Violation("iam-scoped", p.name, "role must be assumable by exactly one service account")
                )
    return out


@functools.cache
def _taggable(type_: str) -> bool:
    pkg, mod_cls = type_.split(":", 1)
    if pkg != "aws":
        return False
    module, cls = mod_cls.split("/")[0], type_.rsplit(":", 1)[1]
    resource = getattr(importlib.import_module(f"pulumi_aws.{module}"), cls, None)
    return resource is not None and "tags" in inspect.signature(resource._internal_init).parameters


def tagged(sim: Simulation) -> list[Violation]:
    """Every AWS resource that takes tags carries project, stack, team and cost centre; every
    Kubernetes object carries them as ``ferry.dev/*`` labels; team resources name their team."""
    out = []
    for r in sim.resources:
        team = r.name.removeprefix("team-").split("-")[0] if r.name.startswith("team-") else None
        if _taggable(r.type):
            tags: dict[str, Any] = r.inputs.get("tags") or {}
            missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
            if missing:
                out.append(Violation("tagged", f"{r.type} {r.name}", f"missing tags {missing}"))
            elif team and not tags["team"].startswith(team):
                out.append(Violation("tagged", f"{r.type} {r.name}", f"team tag {tags['team']!r}"))
        elif r.type.startswith("kubernetes:") and "metadata" in r.inputs:
            labels = r.inputs["metadata"].get("labels") or {}
            missing = [t for t in REQUIRED_TAGS if not labels.get(f"ferry.dev/{t}")]
            if missing:
                out.append(Violation("tagged", f"{r.type} {r.name}", f"missing labels ferry.dev/{missing}"))
    return out


POLICIES: dict[str, Callable[[Simulation], list[Violation]]] = {
    "buckets-private": buckets_private,
    "buckets-encrypted": buckets_encrypted,
    "buckets-versioned": buckets_versioned,
    "data-private": data_stores_private,
    "nodes-private": nodes_private,
    "iam-scoped": iam_scoped,
    "tagged": tagged,
}


def check(sim: Simulation) -> list[Violation]:
    """Every policy's violations."""
    return [v for policy in POLICIES.values() for v in policy(sim)]
