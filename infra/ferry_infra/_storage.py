"""Storage: one KMS key and four S3 buckets (MLflow artifacts, Bentos, the Feast offline store,
the Feast registry), each versioned, SSE-KMS encrypted, closed to the public, TLS-only, with
lifecycle rules for old versions."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ._config import StorageConfig

PURPOSES = ("artifacts", "bentos", "feature-offline", "feature-registry")
"""What each bucket holds; the platform's URIs are prefixes in them (see ``Storage.uris``)."""


@dataclass
class StorageArgs:
    name: str
    config: StorageConfig
    tags: dict[str, str]


class Storage(pulumi.ComponentResource):
    kms_key_arn: pulumi.Output[str]
    buckets: dict[str, aws.s3.Bucket]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ferry:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{name}: S3, RDS, ElastiCache and EKS secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=args.tags,
            opts=child,
        )
        aws.kms.Alias(f"{name}-key", name=f"alias/{name}", target_key_id=key.key_id, opts=child)
        self.kms_key_arn = key.arn
        self.buckets = {p: self._bucket(name, p, key, args) for p in PURPOSES}
        self.register_outputs(
            {"kms_key_arn": key.arn, **{f"{p}_bucket": b.bucket for p, b in self.buckets.items()}}
        )

    def _bucket(self, name: str, purpose: str, key: aws.kms.Key, args: StorageArgs) -> aws.s3.Bucket:
        child = pulumi.ResourceOptions(parent=self)
        res = f"{name}-{purpose}"
        bucket = aws.s3.Bucket(
            res,
            bucket_prefix=f"{res}-",
            force_destroy=args.config.force_destroy,
            tags={**args.tags, "ferry:purpose": purpose},
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            res,
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketPublicAccessBlock(
            res,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            res,
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            res,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            res,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="old-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.config.noncurrent_version_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=args.config.abort_multipart_days
                    ),
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(res, bucket=bucket.id, policy=bucket.arn.apply(_tls_only), opts=child)
        return bucket

    def uri(self, purpose: str, prefix: str) -> pulumi.Output[str]:
        return self.buckets[purpose].bucket.apply(lambda b: f"s3://{b}/{prefix}")


def _tls_only(arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )
