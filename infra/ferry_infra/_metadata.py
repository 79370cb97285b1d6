"""Metadata: RDS PostgreSQL for MLflow's registry and the control plane's state. Private subnets
only, reachable only from the cluster's nodes, encrypted with the stack's key, backed up."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_aws as aws

from ._config import DatabaseConfig
from ._network import client_only_security_group


@dataclass
class MetadataArgs:
    name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Output[str]]
    client_security_group_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    password: pulumi.Input[str]
    config: DatabaseConfig
    tags: dict[str, str]


class Metadata(pulumi.ComponentResource):
    address: pulumi.Output[str]
    port: pulumi.Output[int]
    database_url: pulumi.Output[str]
    mlflow_tracking_uri: pulumi.Output[str]

    def __init__(self, name: str, args: MetadataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:Metadata", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        sg = client_only_security_group(
            f"{name}-db",
            vpc_id=args.vpc_id,
            port=5432,
            client_security_group_id=args.client_security_group_id,
            description="PostgreSQL from the cluster's nodes only",
            tags=args.tags,
            parent=self,
        )
        subnets = aws.rds.SubnetGroup(f"{name}-db", subnet_ids=args.subnet_ids, tags=args.tags, opts=child)
        db = aws.rds.Instance(
            f"{name}-db",
            identifier_prefix=f"{name}-",
            engine="postgres",
            engine_version=cfg.engine_version,
            instance_class=cfg.instance_class,
            allocated_storage=cfg.allocated_storage_gib,
            max_allocated_storage=cfg.max_allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=cfg.name,
            username=cfg.username,
            password=args.password,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            publicly_accessible=False,
            multi_az=cfg.multi_az,
            backup_retention_period=cfg.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=cfg.deletion_protection,
            skip_final_snapshot=not cfg.deletion_protection,
            final_snapshot_identifier=f"{name}-final" if cfg.deletion_protection else None,
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            tags=args.tags,
            opts=child,
        )
        self.address = db.address
        self.port = db.port
        # One database for both (Ferry's migrations keep their own version table, see configuration.md).
        self.database_url = pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql+psycopg://{0}:{1}@{2}:{3}/{4}",
                cfg.username,
                pulumi.Output.from_input(args.password).apply(lambda p: quote(p, safe="")),
                db.address,
                db.port,
                cfg.name,
            )
        )
        self.mlflow_tracking_uri = self.database_url
        self.register_outputs({"address": db.address, "port": db.port})
