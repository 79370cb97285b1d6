"""Feature store: the Feast online store on ElastiCache Redis (TLS in transit, KMS at rest, AUTH
token), its offline store and registry on the stack's S3 buckets. Redis is the same engine the
embedded default and the tests use (ADR 0004)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ._config import RedisConfig
from ._errors import StackConfigError
from ._network import client_only_security_group

PORT = 6379


FORBIDDEN_IN_TOKEN = ',@"/ '


def check_auth_token(token: str) -> str:
    """ElastiCache's AUTH token rules, plus what Feast's connection string cannot carry."""
    bad = sorted({c for c in token if c in FORBIDDEN_IN_TOKEN or not c.isprintable()})
    if not 16 <= len(token) <= 128 or bad:
        found = f", with {bad!r}" if bad else ""
        raise StackConfigError(
            f"ferry:redisAuthToken must be 16-128 printable characters without {list(FORBIDDEN_IN_TOKEN)} "
            f"(got {len(token)} characters{found}); set one with "
            "`pulumi config set --secret ferry:redisAuthToken $(openssl rand -hex 32)`"
        )
    return token


@dataclass
class FeatureStoreArgs:
    name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Output[str]]
    client_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    auth_token: pulumi.Input[str]
    offline_uri: pulumi.Input[str]
    registry_uri: pulumi.Input[str]
    config: RedisConfig
    tags: dict[str, str]


class FeatureStore(pulumi.ComponentResource):
    redis_endpoint: pulumi.Output[str]
    connection_string: pulumi.Output[str]
    auth_token: pulumi.Output[str]  # a secret, validated; for the Secret the Ray pods read
    offline_uri: pulumi.Output[str]
    registry_uri: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:FeatureStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        sg = client_only_security_group(
            f"{name}-redis",
            vpc_id=args.vpc_id,
            port=PORT,
            client_security_group_id=args.client_security_group_id,
            description="Redis from the cluster's nodes only",
            tags=args.tags,
            parent=self,
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-redis", subnet_ids=args.subnet_ids, tags=args.tags, opts=child
        )
        token = pulumi.Output.secret(args.auth_token).apply(check_auth_token)
        ha = cfg.num_cache_clusters > 1
        group = aws.elasticache.ReplicationGroup(
            f"{name}-online",
            description="Ferry: Feast online store",
            engine="redis",
            engine_version=cfg.engine_version,
            node_type=cfg.node_type,
            port=PORT,
            num_cache_clusters=cfg.num_cache_clusters,
            automatic_failover_enabled=ha,
            multi_az_enabled=ha,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token,
            snapshot_retention_limit=cfg.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            tags=args.tags,
            opts=child,
        )
        self.auth_token = token
        self.redis_endpoint = pulumi.Output.format("{0}:{1}", group.primary_endpoint_address, group.port)
        # Feast's connection string (redis.py `_parse_connection_string`): TLS on, AUTH token, and
        # timeouts, so a client pointed at the wrong endpoint fails instead of hanging in the handshake.
        self.connection_string = pulumi.Output.secret(
            pulumi.Output.format(
                "{0},ssl=true,password={1},socket_connect_timeout=5,socket_timeout=30",
                self.redis_endpoint,
                token,
            )
        )
        self.offline_uri = pulumi.Output.from_input(args.offline_uri)
        self.registry_uri = pulumi.Output.from_input(args.registry_uri)
        self.register_outputs(
            {
                "redis_endpoint": self.redis_endpoint,
                "offline_uri": self.offline_uri,
                "registry_uri": self.registry_uri,
            }
        )
