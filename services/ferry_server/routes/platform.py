from __future__ import annotations

from fastapi import APIRouter

from ferry_contract import Health, PlatformInfo, Protocol
from ferry_platform import __version__
from ferry_server.deps import PlatformDep, PrincipalDep

router = APIRouter(prefix="/v1", tags=["platform"])


@router.get("/health", response_model=Health)
def get_health(platform: PlatformDep) -> Health:
    """Up or down, for probes; open (no token), so it says nothing else."""
    return Health(status="ok", ray=platform.runtime.health())


@router.get("/platform", response_model=PlatformInfo)
def get_platform_info(platform: PlatformDep, _who: PrincipalDep) -> PlatformInfo:
    """What clients need: the version, serving endpoints, defaults. No tracking URI:
    models are uploaded to the control plane, which alone writes the registry."""
    s = platform.settings
    return PlatformInfo(
        ferry_version=__version__,
        serve_http_url=s.serve_http_url,
        serve_grpc_target=s.serve_grpc_target,
        default_replicas=s.default_replicas,
        default_protocol=Protocol.auto,
    )
