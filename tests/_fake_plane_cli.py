"""The real ``ferry`` CLI against a fake control plane: ``python tests/_fake_plane_cli.py
status`` runs the CLI's own entry point with a real :class:`ferry.Client` whose HTTP
transport answers from the wire contract's models (long release ids, endpoints, digests),
so a test can run it in a pipe or on a pseudo-terminal of a given width."""

from __future__ import annotations

import httpx

import ferry
from ferry.cli import _common, app
from ferry_contract import (
    ColumnSpec,
    DeploymentPublic,
    Endpoints,
    ModelVersionPublic,
    Protocol,
    ReleasePublic,
)

RELEASE = "churn-prediction-v12-9f8e7d6c5b4a39281716151413121110"
CANDIDATE = "churn-prediction-v13-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
REST = "http://serve.internal.example.com:8000/churn-prediction/predict"
GRPC = "serve.internal.example.com:9000"
DIGEST = "sha256:" + "0123456789abcdef" * 4
DATA_DIGEST = "sha256:" + "fedcba9876543210" * 4
CODE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904+dirty"
LONG = [RELEASE, CANDIDATE, REST, GRPC, DIGEST, DATA_DIGEST, CODE]
"""Every value a table must show whole."""

COLUMNS = [ColumnSpec(name="tenure_months", type="long"),
           ColumnSpec(name="monthly_charges", type="double")]


def _release(release_id: str, version: int) -> ReleasePublic:
    return ReleasePublic(release_id=release_id, model="churn-prediction", version=version,
                         bento_tag=f"churn-prediction:{release_id[-12:]}", model_digest=DIGEST,
                         training_data_digest=DATA_DIGEST, code_version=CODE,
                         ferry_version="0.1.0", signature=COLUMNS)


DEPLOYMENT = DeploymentPublic(
    name="churn-prediction", release=_release(RELEASE, 12), protocol=Protocol.auto, replicas=2,
    status="running", team="risk", traffic={RELEASE: 90, CANDIDATE: 10},
    endpoints=Endpoints(rest=REST, grpc=GRPC, grpc_application="churn-prediction"))
VERSION = ModelVersionPublic(
    name="churn-prediction", version=12, run_id="0" * 32, model_uri="models:/m-" + "1" * 32,
    framework="sklearn", model_digest=DIGEST, training_data_digest=DATA_DIGEST,
    code_version=CODE, signature=COLUMNS)


def answer(request: httpx.Request) -> httpx.Response:
    routes = {
        "/v1/deployments": [DEPLOYMENT.model_dump(mode="json")],
        "/v1/deployments/churn-prediction": DEPLOYMENT.model_dump(mode="json"),
        "/v1/models/churn-prediction/versions": [VERSION.model_dump(mode="json")],
    }
    if request.method == "GET" and request.url.path in routes:
        return httpx.Response(200, json=routes[request.url.path])
    return httpx.Response(404, json={"error": {"code": "not_found", "message": request.url.path}})


def main() -> None:
    _common.make_client = lambda *a, **k: ferry.Client(  # the CLI's seam
        "http://ferry.test", token="t", transport=httpx.MockTransport(answer))
    app(prog_name="ferry")


if __name__ == "__main__":
    main()
