"""The whole stack, composed from the components. ``__main__.py`` calls :func:`build` with the
stack's config, the team files and the secrets; the tests and ``ferry infra`` call it under
Pulumi's mocks."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from ._cluster import Cluster, ClusterArgs
from ._config import StackConfig
from ._errors import StackConfigError
from ._feature_store import FeatureStore, FeatureStoreArgs
from ._iam import ServiceRoles, ServiceRolesArgs
from ._metadata import Metadata, MetadataArgs
from ._monitoring import MetricsScrape, MetricsScrapeArgs
from ._network import Network, NetworkArgs
from ._pipelines import PrefectServer, PrefectServerArgs
from ._ray import NAMESPACE, RayRuntime, RayRuntimeArgs
from ._storage import Storage, StorageArgs
from ._team import Team, TeamArgs
from ._teams import TeamSpec

SECRET_OUTPUTS = frozenset({"kubeconfig", "redisConnection", "databaseUrl", "mlflowTrackingUri"})


@dataclass
class Secrets:
    """Values that only ever travel as Pulumi secrets."""

    db_password: pulumi.Input[str]
    redis_auth_token: pulumi.Input[str]


def check_teams(config: StackConfig, teams: list[TeamSpec]) -> None:
    """Refuse team files the stack cannot honour, before any resource is declared."""
    if not config.gpu_nodes.enabled:
        gpu = [t.name for t in teams if t.gpu]
        if gpu:
            raise StackConfigError(
                f"teams {gpu} may use GPUs but stack {config.stack!r} has no GPU node group; set "
                f"ferry:gpuNodes.enabled: true in Pulumi.{config.stack}.yaml, or gpu: false for those teams"
            )


def build(config: StackConfig, teams: list[TeamSpec], secrets: Secrets) -> dict[str, pulumi.Output]:
    """Declare every resource of the stack and return its outputs (which ``ferry infra settings``
    turns into Ferry's settings)."""
    check_teams(config, teams)
    prefix = config.name_prefix
    tags = config.tags()
    network = Network(
        prefix,
        NetworkArgs(
            name=prefix,
            cidr=config.vpc_cidr,
            availability_zones=config.availability_zones,
            cluster_name=prefix,
            high_availability_nat=config.high_availability_nat,
            tags=tags,
        ),
    )
    storage = Storage(prefix, StorageArgs(name=prefix, config=config.storage, tags=tags))
    cluster = Cluster(
        prefix,
        ClusterArgs(
            name=prefix,
            version=config.cluster_version,
            subnet_ids=network.private_subnet_ids,
            api_public_cidrs=config.api_public_cidrs,
            cpu_nodes=config.cpu_nodes,
            gpu_nodes=config.gpu_nodes,
            kms_key_arn=storage.kms_key_arn,
            region=config.region,
            autoscaler_version=config.cluster_autoscaler_version,
            device_plugin_version=config.nvidia_device_plugin_version,
            tags=tags,
        ),
    )
    metadata = Metadata(
        prefix,
        MetadataArgs(
            name=prefix,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            client_security_group_id=cluster.node_security_group_id,
            kms_key_arn=storage.kms_key_arn,
            password=secrets.db_password,
            config=config.database,
            tags=tags,
        ),
    )
    registry_uri = storage.uri("feature-registry", "registry.pb")
    features = FeatureStore(
        prefix,
        FeatureStoreArgs(
            name=prefix,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            client_security_group_id=cluster.node_security_group_id,
            kms_key_arn=storage.kms_key_arn,
            auth_token=secrets.redis_auth_token,
            offline_uri=storage.uri("feature-offline", "offline/"),
            registry_uri=registry_uri,
            config=config.redis,
            tags=tags,
        ),
    )
    roles = ServiceRoles(
        prefix,
        ServiceRolesArgs(
            oidc=cluster.oidc,
            namespace=NAMESPACE,
            bucket_arns={p: b.arn for p, b in storage.buckets.items()},
            kms_key_arn=storage.kms_key_arn,
            region=config.region,
            tags=tags,
        ),
    )
    release_store = storage.uri("bentos", "releases")
    prediction_log = storage.uri("artifacts", "predictions")
    ray = RayRuntime(
        prefix,
        RayRuntimeArgs(
            provider=cluster.provider,
            config=config.ray,
            role_arns=roles.arns,
            gpu=cluster.has_gpu,
            region=config.region,
            release_store_uri=release_store,
            prediction_log_uri=prediction_log,
            redis_auth_token=features.auth_token,
            vpc_cidr=config.vpc_cidr,
            serve_client_cidrs=config.serve_client_cidrs,
            labels=tags,
        ),
    )
    if config.monitoring.enabled:
        MetricsScrape(
            f"{prefix}-metrics",
            MetricsScrapeArgs(provider=cluster.provider, namespace=NAMESPACE,
                              config=config.monitoring, labels=tags),
            opts=pulumi.ResourceOptions(depends_on=[ray]),
        )
    prefect_api_url: pulumi.Output | str = ""
    if config.pipelines.enabled:
        prefect = PrefectServer(
            f"{prefix}-prefect",
            PrefectServerArgs(provider=cluster.provider, namespace=NAMESPACE,
                              config=config.pipelines, labels=tags),
            opts=pulumi.ResourceOptions(depends_on=[ray]),
        )
        prefect_api_url = prefect.api_url
    team_roles = {}
    for spec in teams:
        team = Team(
            f"team-{spec.name}",
            TeamArgs(
                spec=spec,
                provider=cluster.provider,
                oidc=cluster.oidc,
                buckets=storage.buckets,
                kms_key_arn=storage.kms_key_arn,
                redis_connection=features.connection_string,
                serve_namespace=ray.system_namespace,
                region=config.region,
                tags=config.tags(team=spec.name, cost_centre=spec.cost_centre),
            ),
        )
        team_roles[f"team-{spec.name}"] = team.role_arn

    buckets = storage.buckets
    outputs: dict[str, pulumi.Output] = {
        "region": pulumi.Output.from_input(config.region),
        "clusterName": cluster.name,
        "kubeconfig": cluster.kubeconfig,
        "rayAddress": ray.ray_address,
        "serveHost": ray.serve_host,
        "artifactsBucket": buckets["artifacts"].bucket,
        "bentosBucket": buckets["bentos"].bucket,
        "featureOfflineBucket": buckets["feature-offline"].bucket,
        "featureRegistryBucket": buckets["feature-registry"].bucket,
        "mlflowArtifactRoot": storage.uri("artifacts", "mlflow"),
        "releaseStoreUri": release_store,
        "predictionLogUri": prediction_log,
        # each team's batch jobs read and write under its own prefix (its role may write there)
        "batchRoots": storage.uri("artifacts", "teams/{team}/batch/"),
        "featureOfflineUri": features.offline_uri,
        "featureRegistryUri": features.registry_uri,
        "redisEndpoint": features.redis_endpoint,
        "redisConnection": features.connection_string,
        "databaseUrl": metadata.database_url,
        "mlflowTrackingUri": metadata.mlflow_tracking_uri,
        "roleArns": pulumi.Output.all(**roles.arns, **team_roles),
        "teams": pulumi.Output.from_input([t.name for t in teams]),
        "prefectApiUrl": pulumi.Output.from_input(prefect_api_url),
    }
    return outputs
