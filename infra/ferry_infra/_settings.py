"""From a stack's outputs to Ferry's settings: the same platform code runs on the embedded
default or against the provisioned stack, configured by nothing but these variables.

The output is ``FERRY_*`` (and ``AWS_REGION``) variables, as a dotenv file the platform reads from
``$FERRY_HOME/ferry.env`` or as ``export`` lines for a shell. Variable names are Ferry's documented
settings (docs/configuration.md); a test checks each is one the platform knows.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from ._errors import StackOutputsError

_FROM_OUTPUT = {
    "FERRY_DATABASE_URL": "databaseUrl",
    "FERRY_MLFLOW_TRACKING_URI": "mlflowTrackingUri",
    "FERRY_MLFLOW_ARTIFACT_ROOT": "mlflowArtifactRoot",
    "FERRY_RELEASE_STORE_URI": "releaseStoreUri",
    "FERRY_PREDICTION_LOG_URI": "predictionLogUri",
    "FERRY_BATCH_ROOTS": "batchRoots",
    "FERRY_FEATURE_REGISTRY_URI": "featureRegistryUri",
    "FERRY_FEATURE_REDIS": "redisConnection",
    "FERRY_RAY_ADDRESS": "rayAddress",
    "FERRY_SERVE_PUBLIC_HOST": "serveHost",
    "AWS_REGION": "region",
}
_FIXED = {
    "FERRY_FEATURE_ONLINE_STORE": "redis",
    "FERRY_FEATURE_OFFLINE_STORE": "file",  # reads s3:// sources (docs/configuration.md)
    "FERRY_SERVE_HOST": "0.0.0.0",
}
_OPTIONAL = {"FERRY_PREFECT_API_URL": "prefectApiUrl"}
"""Outputs of optional components: set when the stack has them."""
SECRET_SETTINGS = frozenset({"FERRY_DATABASE_URL", "FERRY_MLFLOW_TRACKING_URI", "FERRY_FEATURE_REDIS"})


def settings_from_outputs(outputs: Mapping[str, Any]) -> dict[str, str]:
    """Ferry's settings for a stack, from ``pulumi stack output --json --show-secrets``."""
    missing = sorted({o for o in _FROM_OUTPUT.values() if outputs.get(o) in (None, "")})
    if missing:
        hint = (
            "; secrets print as [secret] unless --show-secrets is given"
            if any(outputs.get(o) == "[secret]" for o in _FROM_OUTPUT.values())
            else ""
        )
        raise StackOutputsError(
            f"stack outputs lack {missing}; pass the JSON of `pulumi stack output "
            f"--json --show-secrets` from a stack that `pulumi up` completed{hint}"
        )
    masked = sorted(k for k, o in _FROM_OUTPUT.items() if outputs[o] == "[secret]")
    if masked:
        raise StackOutputsError(
            f"outputs for {masked} are masked ([secret]); run `pulumi stack output --json --show-secrets`"
        )
    settings = {k: str(outputs[o]) for k, o in _FROM_OUTPUT.items()}
    settings.update(_FIXED)
    for key, output in _OPTIONAL.items():
        if outputs.get(output) not in (None, "", "[secret]"):
            settings[key] = str(outputs[output])
    # Pipeline steps stay threads of the run's sandboxed process: Ray tasks would run team
    # code on the serving cluster, whose workers hold the serving secrets (docs/security.md).
    return dict(sorted(settings.items()))


def render_settings(settings: Mapping[str, str], fmt: str = "dotenv") -> str:
    """``dotenv`` (for ``$FERRY_HOME/ferry.env``) or ``shell`` (``export`` lines)."""
    if fmt not in ("dotenv", "shell"):
        raise ValueError(f"format {fmt!r}: use dotenv or shell")
    head = "# Ferry settings from the stack's outputs (ferry infra settings). Holds secrets: keep it 0600.\n"
    lines = [f"{'export ' if fmt == 'shell' else ''}{k}={shlex.quote(v)}" for k, v in settings.items()]
    return head + "\n".join(lines) + "\n"
