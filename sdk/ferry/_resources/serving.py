"""``client.serving``: deploying a model version, the deployments that serve, releases."""

from __future__ import annotations

from typing import Literal

from ferry._deployment import Deployment
from ferry._transport import Progress, Transport
from ferry_contract import (
    DeploymentAccessUpdate,
    DeploymentCreate,
    DeploymentPublic,
    InvalidRequest,
    JobPublic,
    Protocol,
    ReleasePublic,
)


def handle(transport: Transport, info: DeploymentPublic) -> Deployment:
    """A handle to predict with on ``info``'s deployment, with the transport's token."""
    return Deployment(info, predict_timeout_s=transport.settings.predict_timeout_s,
                      token=transport.token)


class Serving:
    """Deployments: a name serving one release (or two, during a rollout) over REST and
    gRPC, and the releases built for them."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def deploy(
        self,
        model: str,
        *,
        version: int,
        name: str | None = None,
        protocol: Protocol | str = Protocol.auto,
        replicas: int | Literal["auto"] | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        allow_contract_change: bool = False,
        on_progress: Progress | None = None,
        timeout_s: float | None = None,
    ) -> Deployment:
        """Deploy exactly ``model`` v``version``; returns once it serves (or raises why not).

        ``protocol`` and ``replicas`` default to the platform's choice (REST and gRPC;
        ``default_replicas``, a fixed count). ``replicas="auto"``, or ``min_replicas`` /
        ``max_replicas``, let Ray Serve scale the release by load between those bounds
        (default 1 to the platform's autoscaling maximum). The deployment is named
        ``name`` (default: the model name).
        The deploy runs as a job on the control plane; ``on_progress(step, percent)`` sees
        its steps. To start it and not wait, use :meth:`start_deploy`.

        A version whose clients must send other columns than those of the release it
        replaces (another column set, entity keys instead of inputs) is refused with
        :class:`ContractChange` naming each difference, unless ``allow_contract_change``.
        """
        started = self.start_deploy(model, version=version, name=name, protocol=protocol,
                                    replicas=replicas, min_replicas=min_replicas,
                                    max_replicas=max_replicas,
                                    allow_contract_change=allow_contract_change)
        job = self._transport.wait(started, on_progress=on_progress, timeout_s=timeout_s)
        return handle(self._transport, DeploymentPublic.model_validate(job.result))

    def start_deploy(
        self,
        model: str,
        *,
        version: int,
        name: str | None = None,
        protocol: Protocol | str = Protocol.auto,
        replicas: int | Literal["auto"] | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        allow_contract_change: bool = False,
    ) -> JobPublic:
        """Start a deploy job and return it at once (``ferry deploy --detach``)."""
        try:
            req = DeploymentCreate(model=model, version=version, name=name,
                                   protocol=Protocol(protocol), replicas=replicas,
                                   min_replicas=min_replicas, max_replicas=max_replicas,
                                   allow_contract_change=allow_contract_change)
        except ValueError as e:
            raise InvalidRequest(f"invalid deploy request: {e}") from e
        return JobPublic.model_validate(
            self._transport.request("POST", "/v1/deployments", json=req.model_dump(mode="json")))

    def status(self, name: str) -> DeploymentPublic:
        return DeploymentPublic.model_validate(self._transport.request("GET", f"/v1/deployments/{name}"))

    def deployments(self) -> list[DeploymentPublic]:
        return [DeploymentPublic.model_validate(d)
                for d in self._transport.request("GET", "/v1/deployments")]

    def deployment(self, name: str) -> Deployment:
        """A handle on an existing deployment, to predict with."""
        return handle(self._transport, self.status(name))

    def undeploy(self, name: str) -> None:
        self._transport.request("DELETE", f"/v1/deployments/{name}")

    def set_anonymous_predict(self, name: str, allowed: bool) -> DeploymentPublic:
        """Team admins: let requests without a token predict on ``name`` (or stop it).
        Off by default; shown in :meth:`status` and audited."""
        body = DeploymentAccessUpdate(anonymous_predict=allowed).model_dump()
        return DeploymentPublic.model_validate(
            self._transport.request("PATCH", f"/v1/deployments/{name}/access", json=body))

    def releases(self, model: str | None = None, limit: int = 100) -> list[ReleasePublic]:
        """Built releases, newest first (``model`` to narrow)."""
        params = {k: v for k, v in {"model": model, "limit": limit}.items() if v is not None}
        return [ReleasePublic.model_validate(r)
                for r in self._transport.request("GET", "/v1/releases", params=params)]
