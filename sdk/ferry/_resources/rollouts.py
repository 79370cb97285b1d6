"""``client.rollouts``: a new version beside the serving one (canary, A/B, shadow), then
promote, abort or roll back."""

from __future__ import annotations

from typing import Any

from ferry._deployment import Deployment
from ferry._resources.serving import handle
from ferry._transport import Progress, Transport
from ferry_contract import (
    DeploymentPublic,
    InvalidRequest,
    RolloutAction,
    RolloutCreate,
    RolloutMode,
    RolloutUpdate,
    ShadowReportPublic,
)


class Rollouts:
    """Traffic changes on a deployment; each runs as a job and returns once it took effect."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _follow(self, path: str, body: dict[str, Any] | None, on_progress: Progress | None,
                timeout_s: float | None, method: str = "POST") -> Deployment:
        done = self._transport.run_job(method, path, body, on_progress=on_progress,
                                       timeout_s=timeout_s)
        return handle(self._transport, DeploymentPublic.model_validate(done.result))

    def start(
        self,
        name: str,
        *,
        version: int,
        canary: int | None = None,
        ab: int | None = None,
        sticky_key: str | None = None,
        shadow: bool = False,
        model: str | None = None,
        override_reason: str | None = None,
        on_progress: Progress | None = None,
        timeout_s: float | None = None,
    ) -> Deployment:
        """Start ``version`` beside what ``name`` serves; returns once it takes its share.

        Pick one: ``canary=10`` (10% of requests, at random), ``ab=50, sticky_key=
        "customer_id"`` (50%, each customer always on one release) or ``shadow=True`` (a
        copy of every request; answers compared, never returned). Default: a 10% canary.
        Then :meth:`set_weight`, :meth:`promote`, :meth:`rollback` or :meth:`abort`.
        """
        chosen = [m for m, on in (("canary", canary is not None), ("ab", ab is not None),
                                  ("shadow", shadow)) if on]
        if len(chosen) > 1:
            raise InvalidRequest(f"choose one of canary, ab and shadow; got {chosen}")
        mode = RolloutMode(chosen[0]) if chosen else RolloutMode.canary
        weight = ab if ab is not None else (canary if canary is not None else 10)
        try:
            req = RolloutCreate(version=version, model=model, weight=0 if shadow else weight,
                                mode=mode, sticky_key=sticky_key,
                                override_reason=override_reason)
        except ValueError as e:
            raise InvalidRequest(f"invalid rollout: {e}") from e
        return self._follow(f"/v1/deployments/{name}/rollout", req.model_dump(mode="json"),
                            on_progress, timeout_s)

    def set_weight(self, name: str, weight: int, *, on_progress: Progress | None = None,
                   timeout_s: float | None = None) -> Deployment:
        """Give the candidate ``weight`` percent of the traffic (no replica restarts)."""
        try:
            body = RolloutUpdate(weight=weight).model_dump()
        except ValueError as e:
            raise InvalidRequest(f"invalid weight {weight!r}: it must be 0-100 ({e})") from e
        return self._follow(f"/v1/deployments/{name}/rollout", body, on_progress, timeout_s,
                            method="PATCH")

    def promote(self, name: str, *, reason: str | None = None,
                on_progress: Progress | None = None, timeout_s: float | None = None) -> Deployment:
        """The candidate takes all traffic; the old release is kept for :meth:`rollback`."""
        try:
            body = RolloutAction(reason=reason).model_dump() if reason else None
        except ValueError as e:
            raise InvalidRequest(f"invalid promote: {e}") from e
        return self._follow(f"/v1/deployments/{name}/promote", body, on_progress, timeout_s)

    def abort(self, name: str, *, on_progress: Progress | None = None,
              timeout_s: float | None = None) -> Deployment:
        """Stop the candidate; the serving release takes all traffic again."""
        return self._follow(f"/v1/deployments/{name}/abort", None, on_progress, timeout_s)

    def rollback(self, name: str, *, on_progress: Progress | None = None,
                 timeout_s: float | None = None) -> Deployment:
        """Back to the previous release at once (during a rollout: abort it)."""
        return self._follow(f"/v1/deployments/{name}/rollback", None, on_progress, timeout_s)

    def shadow_report(self, name: str) -> ShadowReportPublic:
        """How the shadow candidate's answers compare with those clients got."""
        return ShadowReportPublic.model_validate(
            self._transport.request("GET", f"/v1/deployments/{name}/shadow"))
