"""Policies every stack must satisfy, checked on the resources the program declares (under mocks in
the tests and in ``ferry infra preview``; the same rules could run as a Pulumi CrossGuard pack at
``pulumi up``). Each returns violations naming the resource and the rule it breaks; none is
the program's own bookkeeping, so a careless edit to a component shows up here."""

from __future__ import annotations

import base64
import functools
import importlib
import inspect
import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import rpc

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
        table = assoc.get(s.id)
        routes = tables[table].inputs.get("routes", []) if table in tables else []
        routes = routes + [
            r.inputs for r in sim.of_type("aws:ec2/route:Route") if r.inputs.get("routeTableId") == table
        ]
        via_igw = table not in tables or any(r.get("gatewayId") for r in routes)
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
    if not sg_ids:
        out.append(
            Violation(
                policy,
                "(no security group)",
                "a data store without its own security group gets the VPC's default one",
            )
        )
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
        if i.get("transitEncryptionMode", "required") != "required":
            out.append(Violation("data-private", rg.name, "transitEncryptionMode must be required"))
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


READ_VERBS = ("Describe", "Get", "List")
EKS_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    }
)


def _listed(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _team_of(name: str, teams: set[str]) -> str | None:
    """The team a resource belongs to, by its ``team-<name>`` prefix (longest team name wins)."""
    found = [t for t in teams if name == f"team-{t}" or name.startswith(f"team-{t}-")]
    return max(found, key=len) if found else None


def _teams(sim: Simulation) -> set[str]:
    return {r.name.removeprefix("team-") for r in sim.of_type("ferry:infra:Team")}


def iam_scoped(sim: Simulation) -> list[Violation]:
    """No wildcard actions; ``Resource: "*"`` only for read-only discovery or under a resource-tag
    condition; S3 access only to the stack's buckets, team roles only to ``teams/<team>/``; no
    managed policies beyond EKS's own; each role assumable by one service account of the cluster."""
    out = []
    buckets = {b.inputs.get("bucket") or b.id for b in _bucket_ids(sim)}
    roles = {r.id: r for r in sim.of_type("aws:iam/role:Role")}
    teams = _teams(sim)
    providers = tuple(
        f":oidc-provider/{r.inputs.get('url', '').removeprefix('https://')}"
        for r in sim.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    )
    for a in sim.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if a.inputs.get("policyArn") not in EKS_MANAGED_POLICIES:
            out.append(
                Violation(
                    "iam-scoped",
                    a.name,
                    f"managed policy {a.inputs.get('policyArn')!r} "
                    "is not EKS's own; grant exactly what the service needs inline",
                )
            )
    for p in sim.of_type("aws:iam/rolePolicy:RolePolicy"):
        doc = json.loads(p.inputs.get("policy", "{}"))
        team = _team_of(p.name, teams)
        for s in doc.get("Statement", []):
            if s.get("Effect") != "Allow":
                continue
            if "NotAction" in s or "NotResource" in s:
                out.append(Violation("iam-scoped", p.name, "NotAction/NotResource grant everything else"))
            actions = [a for a in _listed(s.get("Action")) if a]
            resources = [r for r in _listed(s.get("Resource")) if r]
            if any("*" in a for a in actions):
                out.append(Violation("iam-scoped", p.name, f"wildcard action in {actions}"))
            for res in resources:
                if res == "*":
                    read_only = all(
                        not a.startswith("s3:") and a.split(":")[-1].startswith(READ_VERBS) for a in actions
                    )
                    tag_bound = any(
                        k.startswith("aws:ResourceTag/") for c in s.get("Condition", {}).values() for k in c
                    )
                    if not (read_only or tag_bound):
                        out.append(Violation("iam-scoped", p.name, f"Resource '*' for {actions}"))
                elif res.startswith("arn:aws:s3:::"):
                    bucket, _, key = res.removeprefix("arn:aws:s3:::").partition("/")
                    if bucket not in buckets:
                        out.append(
                            Violation(
                                "iam-scoped", p.name, f"resource {res!r} is not one of the stack's buckets"
                            )
                        )
                    elif team and key and not key.startswith(f"teams/{team}/"):
                        out.append(
                            Violation(
                                "iam-scoped", p.name, f"team role reaches {res!r} outside teams/{team}/"
                            )
                        )
            if team and "s3:ListBucket" in actions:
                prefixes = s.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
                if not prefixes or any(not x.startswith(f"teams/{team}/") for x in prefixes):
                    out.append(Violation("iam-scoped", p.name, f"team role lists outside teams/{team}/"))
        role = roles.get(p.inputs.get("role", ""))
        trust = json.loads(role.inputs.get("assumeRolePolicy", "{}")) if role else {}
        for s in trust.get("Statement", []):
            cond = s.get("Condition", {}).get("StringEquals", {})
            subs = [v for k, v in cond.items() if k.endswith(":sub")]
            auds = [v for k, v in cond.items() if k.endswith(":aud")]
            federated = s.get("Principal", {}).get("Federated")
            ours = str(federated).endswith(providers or ("-",))
            if len(subs) != 1 or "*" in subs[0] or auds != ["sts.amazonaws.com"] or not ours:
                out.append(
                    Violation(
                        "iam-scoped",
                        p.name,
                        "role must be assumable by exactly one service account of the cluster",
                    )
                )
    return out


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RAY_CLUSTER = "kubernetes:ray.io/v1:RayCluster"
SERVE_PORTS = frozenset({8000, 9000})
NAMESPACE_NAME = "kubernetes.io/metadata.name"
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


def _meta(r: SimResource) -> dict[str, Any]:
    return r.inputs.get("metadata") or {}


def _ray_pod_labels(ray: SimResource) -> dict[str, str]:
    head = (ray.inputs.get("spec") or {}).get("headGroupSpec", {}).get("template", {})
    return {**(head.get("metadata", {}).get("labels") or {}), "ray.io/cluster": _meta(ray).get("name", "")}


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a label selector selects pods with ``labels``; KubeRay's own ``ray.io/*`` labels
    (node type, group) pick some of the cluster's pods, so they count as matching. Expressions are
    taken to match (a policy is then checked rather than overlooked)."""
    selector = selector or {}
    return all(
        labels.get(k) == v or (k.startswith("ray.io/") and k != "ray.io/cluster")
        for k, v in (selector.get("matchLabels") or {}).items()
    )


def _ingress_policies(sim: Simulation, ray: SimResource) -> list[SimResource]:
    """The NetworkPolicies that govern ingress to the RayCluster's pods (they add up)."""
    labels = _ray_pod_labels(ray)
    out = []
    for p in sim.of_type(NETWORK_POLICY):
        spec = p.inputs.get("spec") or {}
        if _meta(p).get("namespace") != _meta(ray).get("namespace"):
            continue
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            continue
        if _matches(spec.get("podSelector"), labels):
            out.append(p)
    return out


def _named_ports(ray: SimResource) -> dict[str, int]:
    head = (ray.inputs.get("spec") or {}).get("headGroupSpec", {}).get("template", {}).get("spec", {})
    return {
        q["name"]: q["containerPort"]
        for c in head.get("containers", [])
        for q in c.get("ports", [])
        if "name" in q
    }


def _ports(rule: dict[str, Any], named: dict[str, int]) -> set[int] | None:
    """The ports a rule admits; None for every port (no ``ports``)."""
    if not rule.get("ports"):
        return None
    out: set[int] = set()
    for q in rule["ports"]:
        port = q.get("port")
        if port is None:
            return None  # a protocol without a port: every port
        port = named.get(port, -1) if isinstance(port, str) else int(port)
        out.update(range(port, int(q.get("endPort") or port) + 1))
    return out


def _peer_namespace(peer: dict[str, Any], own: str) -> str | None:
    """The one namespace a peer names; None if it admits more (any namespace, an IP block)."""
    if "ipBlock" in peer:
        return None
    if "namespaceSelector" not in peer:
        return own if "podSelector" in peer else None  # a pod selector alone: the policy's namespace
    sel = peer["namespaceSelector"] or {}
    labels = sel.get("matchLabels") or {}
    if sel.get("matchExpressions") or list(labels) != [NAMESPACE_NAME]:
        return None
    return str(labels[NAMESPACE_NAME])


def _vpc_networks(sim: Simulation) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(v.inputs["cidrBlock"]) for v in sim.of_type("aws:ec2/vpc:Vpc")]


def ray_isolated(sim: Simulation) -> list[Violation]:
    """Each RayCluster is selected by an ingress NetworkPolicy, and every rule of every policy
    selecting it that admits anything beyond its own namespace is limited to Serve's ports
    8000/9000 (Ray's client, dashboard and GCS have no auth)."""
    out = []
    for ray in sim.of_type(RAY_CLUSTER):
        own, named = _meta(ray).get("namespace", ""), _named_ports(ray)
        policies = _ingress_policies(sim, ray)
        if not policies:
            out.append(
                Violation(
                    "ray-isolated",
                    ray.name,
                    "no NetworkPolicy selects its pods, so every pod of the cluster reaches every port",
                )
            )
        for p in policies:
            for i, rule in enumerate(p.inputs["spec"].get("ingress") or []):
                peers = rule.get("from") or [{}]
                if all(_peer_namespace(f, own) == own for f in peers):
                    continue
                ports = _ports(rule, named)
                if ports is None or not ports <= SERVE_PORTS:
                    shown = "every port" if ports is None else sorted(ports - SERVE_PORTS)[:5]
                    out.append(
                        Violation(
                            "ray-isolated",
                            ray.name,
                            f"NetworkPolicy {p.name} ingress[{i}] admits sources outside {own} to {shown}; "
                            "only Serve's ports 8000/9000 may be reached from elsewhere",
                        )
                    )
    return out


def serve_restricted(sim: Simulation) -> list[Violation]:
    """Serve's ports are not open to every source: every ingress rule reaching them names its
    sources; IP blocks are neither ``0.0.0.0/0`` nor inside the VPC (pod IPs are VPC IPs, so such
    a block admits pods of every namespace); namespaces are named exactly; the load balancer keeps
    the client's address (``externalTrafficPolicy: Local``) so the IP blocks see real clients."""
    out = []
    vpcs = _vpc_networks(sim)
    for ray in sim.of_type(RAY_CLUSTER):
        own, named = _meta(ray).get("namespace", ""), _named_ports(ray)
        for p in _ingress_policies(sim, ray):
            for i, rule in enumerate(p.inputs["spec"].get("ingress") or []):
                ports = _ports(rule, named)
                if ports is not None and not ports & SERVE_PORTS:
                    continue
                if not rule.get("from"):
                    out.append(
                        Violation(
                            "serve-restricted",
                            p.name,
                            f"ingress[{i}] has no `from`: every source reaches Serve's ports; "
                            "name the namespaces (one policy per team) or serveClientCidrs",
                        )
                    )
                    continue
                for peer in rule["from"]:
                    block = peer.get("ipBlock")
                    if block is not None:
                        try:
                            net = ipaddress.ip_network(block.get("cidr", ""), strict=False)
                        except ValueError:
                            out.append(Violation("serve-restricted", p.name, f"ipBlock {block!r} is no CIDR"))
                            continue
                        if net.prefixlen == 0:
                            out.append(
                                Violation(
                                    "serve-restricted", p.name, f"ipBlock {net} admits every source to Serve"
                                )
                            )
                        elif any(net.overlaps(v) for v in vpcs if v.version == net.version):
                            out.append(
                                Violation(
                                    "serve-restricted",
                                    p.name,
                                    f"ipBlock {net} overlaps the VPC: pod IPs are VPC IPs, so it admits "
                                    "pods of every namespace",
                                )
                            )
                    elif _peer_namespace(peer, own) is None:
                        out.append(
                            Violation(
                                "serve-restricted",
                                p.name,
                                f"ingress[{i}] namespaceSelector {peer.get('namespaceSelector')!r} admits "
                                f"more than one namespace; match {NAMESPACE_NAME} exactly",
                            )
                        )
        labels = _ray_pod_labels(ray)
        for svc in sim.of_type("kubernetes:core/v1:Service"):
            spec = svc.inputs.get("spec") or {}
            if (
                spec.get("type") == "LoadBalancer"
                and _meta(svc).get("namespace") == own
                and spec.get("selector")
                and all(labels.get(k) == v for k, v in spec["selector"].items())
                and spec.get("externalTrafficPolicy") != "Local"
            ):
                out.append(
                    Violation(
                        "serve-restricted",
                        svc.name,
                        "needs externalTrafficPolicy: Local; otherwise nodes forward the load balancer's "
                        "traffic under their own address and the pods' policies never see the client",
                    )
                )
    return out


def serve_per_team(sim: Simulation) -> list[Violation]:
    """Every team reaches Serve through a NetworkPolicy of its own that names only its own
    namespace, on Serve's ports only; team namespaces enforce Pod Security ``baseline`` (a
    hostNetwork pod would come from its node's address, which the VPC CNI agent always admits)."""
    out = []
    teams = _teams(sim)
    rays = sim.of_type(RAY_CLUSTER)
    namespaces = {_meta(n).get("name"): n for n in sim.of_type("kubernetes:core/v1:Namespace")}
    for team in sorted(teams):
        ns_name = f"team-{team}"
        ns = namespaces.get(ns_name)
        level = (_meta(ns).get("labels") or {}).get(POD_SECURITY_ENFORCE) if ns else None
        if ns is not None and level not in ("baseline", "restricted"):
            out.append(
                Violation(
                    "serve-per-team",
                    ns.name,
                    f"namespace {ns_name} needs label {POD_SECURITY_ENFORCE}: baseline (got {level!r})",
                )
            )
        for ray in rays:
            own, named = _meta(ray).get("namespace", ""), _named_ports(ray)
            admitted = False
            for p in _ingress_policies(sim, ray):
                if _team_of(p.name, teams) != team:
                    continue
                for i, rule in enumerate(p.inputs["spec"].get("ingress") or []):
                    names = {_peer_namespace(f, own) for f in rule.get("from") or [{}]}
                    ports = _ports(rule, named)
                    if names != {ns_name}:
                        shown = sorted(str(n) if n else "(any)" for n in names)
                        out.append(
                            Violation(
                                "serve-per-team",
                                p.name,
                                f"ingress[{i}] of team {team}'s policy admits namespaces {shown}; "
                                f"it may name only {ns_name}",
                            )
                        )
                    elif ports is None or not ports <= SERVE_PORTS:
                        out.append(
                            Violation(
                                "serve-per-team",
                                p.name,
                                f"ingress[{i}] admits {ns_name} beyond Serve's ports 8000/9000",
                            )
                        )
                    else:
                        admitted = True
            if not admitted:
                out.append(
                    Violation(
                        "serve-per-team",
                        ns_name,
                        f"no NetworkPolicy of team {team} admits {ns_name} to Serve's ports on {ray.name}",
                    )
                )
    return out


# Pulumi's marker of a secret value in resource inputs (what the mocks record for a secret Output).
_SECRET = (rpc._special_sig_key, rpc._special_secret_sig)
_MIN_SECRET_LEN = 8  # shorter strings would match by accident; none of the stack's secrets is that short


def _leaves(value: Any, path: str = "", secret: bool = False) -> Iterator[tuple[str, str, bool]]:
    """Every string in an input value: (path, string, whether it sits inside a Pulumi secret)."""
    if isinstance(value, dict):
        if value.get(_SECRET[0]) == _SECRET[1]:
            yield from _leaves(value.get("value"), path, True)
            return
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k), secret)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]", secret)
    elif isinstance(value, str):
        yield path, value, secret


def _holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get(_SECRET[0]) == _SECRET[1] or any(_holds_secret(v) for v in value.values())
    return isinstance(value, list) and any(_holds_secret(v) for v in value)


def _in_clear(r: SimResource) -> bool:
    """A Kubernetes object anyone who can read it (or its pods, or Helm's release) sees in clear."""
    return r.type.startswith("kubernetes:") and r.type != "kubernetes:core/v1:Secret"


CREDENTIAL_INPUTS = {
    "aws:elasticache/replicationGroup:ReplicationGroup": "authToken",
    "aws:rds/instance:Instance": "password",
}


def secrets_not_in_clear(sim: Simulation) -> list[Violation]:
    """No Kubernetes object other than a Secret carries a secret: no env ``value``, ConfigMap
    entry, Helm value or other field equals or contains the plain (or base64) value of a Pulumi
    secret or of the Redis AUTH token / database password, and none takes a Pulumi secret as input.
    Pods get secrets by ``valueFrom.secretKeyRef`` / ``envFrom``."""
    known: dict[str, str] = {}  # secret text -> where it comes from (never shown)
    for r in sim.resources:
        if _in_clear(r):
            continue
        credential = CREDENTIAL_INPUTS.get(r.type)
        for path, text, secret in _leaves(r.inputs):
            if (secret or path == credential) and len(text) >= _MIN_SECRET_LEN:
                known.setdefault(text, f"{r.name}.{path}")
    forms = {
        form: origin
        for text, origin in known.items()
        for form in (text, base64.b64encode(text.encode()).decode())
    }
    out = []
    for r in sim.resources:
        if not _in_clear(r):
            continue
        found = False
        for path, text, _ in _leaves(r.inputs):
            origin = next((o for f, o in forms.items() if f in text), None)
            if origin is not None:
                found = True
                out.append(
                    Violation(
                        "secrets-not-in-clear",
                        f"{r.type} {r.name}",
                        f"{path} carries the secret {origin} in clear; put it in a Secret and "
                        "reference it (valueFrom.secretKeyRef / envFrom)",
                    )
                )
        wrapped = sorted(k for k, v in r.inputs.items() if _holds_secret(v))
        if wrapped and not found:
            out.append(
                Violation(
                    "secrets-not-in-clear",
                    f"{r.type} {r.name}",
                    f"inputs {wrapped} hold a Pulumi secret, which this object shows in clear",
                )
            )
    return out


def load_balancers_internal(sim: Simulation) -> list[Violation]:
    """Every Kubernetes ``LoadBalancer`` Service is internal (Serve is for the company's network)."""
    out = []
    for svc in sim.of_type("kubernetes:core/v1:Service"):
        if (svc.inputs.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        notes = svc.inputs.get("metadata", {}).get("annotations") or {}
        if notes.get("service.beta.kubernetes.io/aws-load-balancer-internal") != "true":
            out.append(
                Violation(
                    "load-balancers-internal",
                    svc.name,
                    "needs service.beta.kubernetes.io/aws-load-balancer-internal: 'true'",
                )
            )
    return out


@functools.cache
def _taggable(type_: str) -> bool:
    pkg, mod_cls = type_.split(":", 1)
    if pkg != "aws":
        return False
    module, cls = mod_cls.split("/")[0], type_.rsplit(":", 1)[1]
    # The resource's Args class says whether it takes tags (the resource class itself may be wrapped).
    args = getattr(importlib.import_module(f"pulumi_aws.{module}"), f"{cls}Args", None)
    return args is not None and "tags" in inspect.signature(args.__init__).parameters


def tagged(sim: Simulation) -> list[Violation]:
    """Every AWS resource that takes tags carries project, stack, team and cost centre; every
    Kubernetes object carries them as ``ferry.dev/*`` labels; team resources name their team."""
    out = []
    teams = _teams(sim)
    for r in sim.resources:
        team = _team_of(r.name, teams)
        if _taggable(r.type):
            tags: dict[str, Any] = r.inputs.get("tags") or {}
            missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
            if missing:
                out.append(Violation("tagged", f"{r.type} {r.name}", f"missing tags {missing}"))
            elif team and tags["team"] != team:
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
    "load-balancers-internal": load_balancers_internal,
    "ray-isolated": ray_isolated,
    "serve-restricted": serve_restricted,
    "serve-per-team": serve_per_team,
    "secrets-not-in-clear": secrets_not_in_clear,
    "tagged": tagged,
}


def check(sim: Simulation) -> list[Violation]:
    """Every policy's violations."""
    return [v for policy in POLICIES.values() for v in policy(sim)]
