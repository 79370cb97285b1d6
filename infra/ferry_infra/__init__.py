"""Ferry's infrastructure: Pulumi components (network, cluster, storage, feature store, metadata,
IAM, Ray runtime, teams), the program that composes them, a mock runner, and the mapping from the
stack's outputs to Ferry's settings. A leaf: imports nothing of the platform."""

from ._cluster import Cluster, ClusterArgs
from ._config import (
    DatabaseConfig,
    GpuNodeGroupConfig,
    NodeGroupConfig,
    RayConfig,
    RedisConfig,
    StackConfig,
    StorageConfig,
)
from ._errors import InfraError, StackConfigError, StackOutputsError, TeamFileError
from ._feature_store import FeatureStore, FeatureStoreArgs
from ._iam import S3Grant, ServiceRoles, ServiceRolesArgs, service_grants
from ._metadata import Metadata, MetadataArgs
from ._network import Network, NetworkArgs
from ._program import SECRET_OUTPUTS, Secrets, build, check_teams
from ._ray import RayRuntime, RayRuntimeArgs
from ._settings import render_settings, settings_from_outputs
from ._simulate import Change, SimResource, Simulation, StandIns, diff, simulate, simulate_stack
from ._storage import Storage, StorageArgs
from ._team import Team, TeamArgs
from ._teams import TeamQuotas, TeamSpec, load_teams, parse_team, write_team

__all__ = [
    "SECRET_OUTPUTS",
    "Change",
    "Cluster",
    "ClusterArgs",
    "DatabaseConfig",
    "FeatureStore",
    "FeatureStoreArgs",
    "GpuNodeGroupConfig",
    "InfraError",
    "Metadata",
    "MetadataArgs",
    "Network",
    "NetworkArgs",
    "NodeGroupConfig",
    "RayConfig",
    "RayRuntime",
    "RayRuntimeArgs",
    "RedisConfig",
    "S3Grant",
    "Secrets",
    "ServiceRoles",
    "ServiceRolesArgs",
    "SimResource",
    "Simulation",
    "StackConfig",
    "StackConfigError",
    "StackOutputsError",
    "StandIns",
    "Storage",
    "StorageArgs",
    "StorageConfig",
    "Team",
    "TeamArgs",
    "TeamFileError",
    "TeamQuotas",
    "TeamSpec",
    "build",
    "check_teams",
    "diff",
    "load_teams",
    "parse_team",
    "render_settings",
    "service_grants",
    "settings_from_outputs",
    "simulate",
    "simulate_stack",
    "write_team",
]
