"""Typed stack configuration: what `Pulumi.<stack>.yaml` may say, validated before any resource
is declared. Stacks differ in these values (sizes, counts, retention), never in code.

Keys are camelCase under the `ferry:` namespace (`ferry:cpuNodes`), as Pulumi config is; unknown
keys are refused, so a typo is an error rather than a silently ignored setting. Every key is
described in docs/infrastructure.md.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ._errors import StackConfigError, describe


def k8s_labels(tags: dict[str, str]) -> dict[str, str]:
    """The AWS tags as Kubernetes labels (``ferry.dev/<tag>``)."""
    return {f"ferry.dev/{k}": v for k, v in tags.items()}


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class NodeGroupConfig(_Model):
    """A managed node group's size. Nodes always live in the private subnets."""

    instance_types: list[str] = Field(min_length=1)
    min_size: int = Field(ge=0)
    desired_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    disk_gib: int = Field(default=100, ge=20)

    @model_validator(mode="after")
    def _ordered(self) -> NodeGroupConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need minSize <= desiredSize <= maxSize, got {self.min_size} <= "
                f"{self.desired_size} <= {self.max_size}"
            )
        return self


class GpuNodeGroupConfig(NodeGroupConfig):
    """The optional GPU group: created only when ``enabled``; tainted so only GPU work lands."""

    enabled: bool = False
    instance_types: list[str] = Field(default=["g5.xlarge"], min_length=1)
    min_size: int = Field(default=0, ge=0)
    desired_size: int = Field(default=0, ge=0)
    max_size: int = Field(default=2, ge=1)


class DatabaseConfig(_Model):
    """RDS PostgreSQL for MLflow and the control plane."""

    name: str = Field(default="ferry", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    username: str = Field(default="ferry", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    instance_class: str = "db.t4g.medium"
    engine_version: str = "17"
    allocated_storage_gib: int = Field(default=20, ge=20)
    max_allocated_storage_gib: int = Field(default=100, ge=20)
    backup_retention_days: int = Field(default=7, ge=1, le=35)
    multi_az: bool = False
    deletion_protection: bool = True


class RedisConfig(_Model):
    """ElastiCache Redis, the Feast online store."""

    node_type: str = "cache.t4g.small"
    engine_version: str = "7.1"
    num_cache_clusters: int = Field(default=1, ge=1, le=6)
    snapshot_retention_days: int = Field(default=1, ge=0, le=35)


class StorageConfig(_Model):
    """Lifecycle of the S3 buckets (versioning and SSE-KMS are not configurable)."""

    noncurrent_version_days: int = Field(default=30, ge=1)
    abort_multipart_days: int = Field(default=7, ge=1)
    force_destroy: bool = False


class RayConfig(_Model):
    """The KubeRay operator and Ferry's Ray cluster (head + CPU workers, + GPU workers if enabled)."""

    image: str = "ghcr.io/example/ferry-ray:latest"
    gpu_image: str = "ghcr.io/example/ferry-ray:latest-gpu"
    kuberay_version: str = "1.4.2"
    head_cpu: int = Field(default=2, ge=1)
    head_memory_gib: int = Field(default=8, ge=2)
    worker_cpu: int = Field(default=4, ge=1)
    worker_memory_gib: int = Field(default=16, ge=2)
    min_workers: int = Field(default=1, ge=0)
    max_workers: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RayConfig:
        if self.min_workers > self.max_workers:
            raise ValueError(f"need minWorkers <= maxWorkers, got {self.min_workers} > {self.max_workers}")
        return self


class MonitoringConfig(_Model):
    """Prometheus scraping the control plane's ``/v1/metrics`` (a ``ScrapeConfig`` of the
    Prometheus Operator) and Grafana's dashboard (a ConfigMap its sidecar loads)."""

    enabled: bool = True
    control_plane_target: str = Field(default="ferry-control-plane.ferry-system.svc:8700",
                                      pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$")
    scheme: str = Field(default="http", pattern=r"^https?$")
    scrape_interval: str = Field(default="30s", pattern=r"^\d+[smh]$")
    token_secret: str = Field(default="ferry-metrics-token", pattern=r"^[a-z0-9][a-z0-9.-]{0,252}$")
    prometheus_labels: dict[str, str] = Field(default_factory=lambda: {"release": "prometheus"})
    dashboard_label: str = "grafana_dashboard"


class PipelinesConfig(_Model):
    """The Prefect server pipeline runs report to (its database URL in a Secret made by
    hand, never in Pulumi's state)."""

    enabled: bool = True
    image: str = Field(default="prefecthq/prefect:3.9.1-python3.11", min_length=3)
    replicas: int = Field(default=1, ge=1, le=5)
    port: int = Field(default=4200, ge=1024, le=65535)
    database_secret: str = Field(default="ferry-prefect-database",
                                 pattern=r"^[a-z0-9][a-z0-9.-]{0,252}$")
    cpu: str = Field(default="500m", pattern=r"^\d+(m|\.\d+)?$")
    memory: str = Field(default="1Gi", pattern=r"^\d+(Mi|Gi)$")


class StackConfig(_Model):
    """Everything a stack may vary. ``region`` is Pulumi's ``aws:region``; the rest is ``ferry:*``."""

    stack: str = Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    platform_team: str = Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
    # Also a Kubernetes label value: letters, digits, '.', '_', '-', at most 63 characters.
    cost_centre: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
    availability_zones: list[str] = Field(min_length=2, max_length=4)
    vpc_cidr: str = "10.40.0.0/16"
    cluster_version: str = Field(default="1.33", pattern=r"^1\.\d{2}$")
    api_public_cidrs: list[str] = Field(default_factory=list)
    # Clients outside the cluster that may reach Serve through the internal load balancer.
    serve_client_cidrs: list[str] = Field(default_factory=list)
    high_availability_nat: bool = False
    cluster_autoscaler_version: str = "9.46.6"
    nvidia_device_plugin_version: str = "0.17.1"
    cpu_nodes: NodeGroupConfig
    gpu_nodes: GpuNodeGroupConfig = GpuNodeGroupConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    storage: StorageConfig = StorageConfig()
    ray: RayConfig = RayConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    pipelines: PipelinesConfig = PipelinesConfig()

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, v: str) -> str:
        net = ipaddress.ip_network(v)  # ValueError names the value
        if not 16 <= net.prefixlen <= 20:
            raise ValueError(f"must be a /16 to /20 so each zone gets a private and a public subnet, got {v}")
        return v

    @field_validator("api_public_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            if ipaddress.ip_network(c).prefixlen == 0:
                raise ValueError(
                    "the Kubernetes API must not be open to 0.0.0.0/0; list your "
                    "offices' or VPN's CIDRs, or none for a private-only endpoint"
                )
        return v

    @field_validator("serve_client_cidrs")
    @classmethod
    def _serve_clients(cls, v: list[str], info: ValidationInfo) -> list[str]:
        vpc = info.data.get("vpc_cidr")
        problems = []
        for c in v:
            try:
                net = ipaddress.ip_network(c)  # strict: "10.8.0.1/16" has host bits set
            except ValueError as e:
                problems.append(f"{c!r} is not a CIDR ({e})")
                continue
            if net.version != 4:
                problems.append(f"{c} is not IPv4 (the cluster's network policies are IPv4)")
            elif net.prefixlen == 0:
                problems.append(
                    f"{c} would open Serve to every source; list the CIDRs of the clients "
                    "(VPN, peered VPCs) that call Serve through its internal load balancer, or none"
                )
            elif vpc and net.overlaps(ipaddress.ip_network(vpc)):
                problems.append(
                    f"{c} overlaps ferry:vpcCidr {vpc}: pod IPs are VPC IPs, so it would admit every "
                    "pod in that range; pods reach Serve through their team's namespace policy"
                )
        if len(set(v)) != len(v):
            problems.append(f"duplicates in {v}")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @model_validator(mode="after")
    def _zones(self) -> StackConfig:
        bad = [z for z in self.availability_zones if not z.startswith(self.region)]
        if bad:
            raise ValueError(f"availabilityZones {bad} are not in region {self.region}")
        return self

    @property
    def name_prefix(self) -> str:
        return f"ferry-{self.stack}"

    def tags(self, team: str | None = None, cost_centre: str | None = None) -> dict[str, str]:
        """The tags every AWS resource carries (labels on Kubernetes objects)."""
        return {
            "project": "ferry",
            "stack": self.stack,
            "team": team or self.platform_team,
            "cost-centre": cost_centre or self.cost_centre,
        }

    @classmethod
    def from_mapping(cls, stack: str, values: dict[str, Any]) -> StackConfig:
        """From `{"aws:region": ..., "ferry:cpuNodes": ...}` (a stack file's ``config:``)."""
        data: dict[str, Any] = {"stack": stack}
        unknown = []
        for key, value in values.items():
            ns, _, name = key.partition(":")
            if key == "aws:region":
                data["region"] = value
            elif ns == "ferry" and name not in _SECRET_KEYS:
                data[name] = value
            elif ns not in ("aws", "kubernetes", "ferry"):
                unknown.append(key)
        problems = [f"{k}: unknown namespace; Ferry reads ferry:* and aws:region" for k in unknown]
        try:
            config = cls.model_validate(data)
        except ValidationError as e:
            problems += describe(e, prefix="ferry:")
            config = None
        if problems or config is None:
            raise StackConfigError(
                f"stack {stack!r} config is invalid:\n  "
                + "\n  ".join(problems)
                + "\nFix the keys above in Pulumi."
                + stack
                + ".yaml "
                "(see docs/infrastructure.md for each key)."
            )
        return config

    @classmethod
    def from_stack_file(cls, path: Path) -> StackConfig:
        """From ``Pulumi.<stack>.yaml``; secrets (``secure:`` values) are not read here."""
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if not path.is_file():
            raise StackConfigError(
                f"no stack file {path}; stacks here: "
                f"{sorted(p.name for p in path.parent.glob('Pulumi.*.yaml'))}"
            )
        doc = yaml.safe_load(path.read_text()) or {}
        return cls.from_mapping(stack, doc.get("config") or {})

    @classmethod
    def from_pulumi(cls) -> StackConfig:
        """From the running Pulumi program's config (`pulumi preview/up`)."""
        import pulumi

        ferry = pulumi.Config("ferry")
        values: dict[str, Any] = {"aws:region": pulumi.Config("aws").require("region")}
        for field in cls.model_fields.values():
            key = field.alias or ""
            if key in ("stack", "region"):
                continue
            raw = ferry.get(key)
            if raw is not None:
                values[f"ferry:{key}"] = _decode(raw)
        return cls.from_mapping(pulumi.get_stack(), values)


_SECRET_KEYS = {"dbPassword", "redisAuthToken"}
"""Read as Pulumi secrets (``pulumi config set --secret``), never from the typed config."""


def _decode(raw: str) -> Any:
    """Pulumi hands structured values over as JSON text and plain ones as strings. Scalars stay
    strings (the model converts "3" or "true" where a number or flag is expected, and keeps
    ``clusterVersion: "1.33"`` a string)."""
    if raw.lstrip().startswith(("[", "{")):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
