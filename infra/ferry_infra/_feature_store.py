"""Feature store: the Feast online store on ElastiCache Redis (TLS in transit, KMS at rest, AUTH
token), its offline store and registry on the stack's S3 buckets. Redis is the same engine the
embedded default and the tests use (ADR 0004)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ._config import RedisConfig

PORT = 6379


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
    offline_uri: pulumi.Output[str]
    registry_uri: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:FeatureStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        sg = aws.ec2.SecurityGroup(
            f"{name}-redis",
            vpc_id=args.vpc_id,
            description="Redis from the cluster's nodes only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=PORT,
                    to_port=PORT,
                    security_groups=[args.client_security_group_id],
                )
            ],
            tags=args.tags,
            opts=child,
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-redis", subnet_ids=args.subnet_ids, tags=args.tags, opts=child
        )
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
            auth_token=args.auth_token,
            snapshot_retention_limit=cfg.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            tags=args.tags,
            opts=child,
        )
        self.redis_endpoint = pulumi.Output.format("{0}:{1}", group.primary_endpoint_address, PORT)
        # Feast's connection string (redis.py `_parse_connection_string`): TLS on, AUTH token.
        self.connection_string = pulumi.Output.secret(
            pulumi.Output.format("{0},ssl=true,password={1}", self.redis_endpoint, args.auth_token)
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
