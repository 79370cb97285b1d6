"""Ferry's one error tree, shared by the control plane, the data plane, the SDK and the CLI.

Every error carries a stable ``code`` (what scripts match on), the HTTP ``status`` the
control plane answers with, a message that names the bad value and the fix, and optional
structured ``details``. The server turns an error into ``{"error": {...}}``; the SDK turns
that body back into the same class with :func:`error_from_body`.

    FerryError (500, internal)
    ├── InvalidRequest (400, invalid_request)      malformed body, bad argument
    │   ├── InvalidInput (422, invalid_input)      predict rows do not match the signature
    │   └── InvalidFeatureDefinition (422, invalid_feature_definition)  names file and line
    ├── NotFound (404, not_found)
    │   ├── ModelNotFound (404, model_not_found)
    │   ├── VersionNotFound (404, version_not_found)
    │   ├── DeploymentNotFound (404, deployment_not_found)
    │   ├── FeatureNotFound (404, feature_not_found)   unknown view, version or feature
    │   ├── JobNotFound (404, job_not_found)
    │   └── IdentityNotFound (404, identity_not_found)  unknown team, user or token
    ├── Unauthenticated (401, unauthenticated)     no token, or an unknown/expired/revoked one
    ├── Forbidden (403, forbidden)                 the caller's role does not allow it
    ├── Conflict (409, conflict)                   e.g. a deploy of that name is under way
    │   ├── RolloutInProgress (409, rollout_in_progress)  promote, abort or roll it back first
    │   ├── NoRollout (409, no_rollout)                weights, promote or abort without one
    │   └── NoPreviousRelease (409, no_previous_release)  nothing to roll back to
    ├── GateFailed (422, gate_failed)              the version failed its promotion gate
    ├── EvaluationFailed (422, evaluation_failed)  a version could not be evaluated (it did
    │                                              not load, ran out of memory or time, or
    │                                              its artifacts changed since registration)
    ├── ReleaseFailed (422, release_failed)        the model could not be packaged or loaded
    ├── IncompatibleRelease (422, incompatible_release)  code/data do not match the model
    └── PlatformUnavailable (503, platform_unavailable)  control plane or runtime unreachable
"""

from __future__ import annotations

from typing import Any, ClassVar


class FerryError(Exception):
    """Root of every Ferry error. ``code`` and ``status`` are stable parts of the API."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_body(self) -> dict[str, Any]:
        """The JSON body the control plane and the data plane answer with."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}

    def __str__(self) -> str:
        return self.message


class InvalidRequest(FerryError):
    """The request is malformed or an argument is out of range."""

    code = "invalid_request"
    status = 400


class InvalidInput(InvalidRequest):
    """Prediction input does not match the model's signature. ``details['problems']`` lists each."""

    code = "invalid_input"
    status = 422


class InvalidFeatureDefinition(InvalidRequest):
    """A feature definition file does not load. ``details`` has ``file`` and ``line``."""

    code = "invalid_feature_definition"
    status = 422


class NotFound(FerryError):
    code = "not_found"
    status = 404


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class FeatureNotFound(NotFound):
    code = "feature_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class IdentityNotFound(NotFound):
    code = "identity_not_found"


class Unauthenticated(FerryError):
    """No credentials, or credentials the control plane does not accept. Never echoes them."""

    code = "unauthenticated"
    status = 401


class Forbidden(FerryError):
    """Authenticated, but the caller's role in the owning team does not allow the change."""

    code = "forbidden"
    status = 403


class Conflict(FerryError):
    code = "conflict"
    status = 409


class RolloutInProgress(Conflict):
    """A rollout of this deployment is under way."""

    code = "rollout_in_progress"


class NoRollout(Conflict):
    """The deployment has no rollout to change, promote or abort."""

    code = "no_rollout"


class NoPreviousRelease(Conflict):
    """Rollback asked of a deployment with no previous release."""

    code = "no_previous_release"


class GateFailed(FerryError):
    """The version did not pass its evaluation gate (details name each failing check)."""

    code = "gate_failed"
    status = 422


class EvaluationFailed(FerryError):
    """A version could not be evaluated: its model did not load, ran out of memory or time
    in its sandbox, or its artifacts no longer match the digest recorded at registration.
    ``details`` name the ``model``, ``version``, its ``role`` (candidate or champion) and
    the ``cause`` (load, memory, timeout, crashed, raised or digest)."""

    code = "evaluation_failed"
    status = 422


class ReleaseFailed(FerryError):
    """The release could not be built or its model could not be loaded; nothing was changed."""

    code = "release_failed"
    status = 422


class IncompatibleRelease(FerryError):
    """The model, its code or its data do not match; the deploy is refused."""

    code = "incompatible_release"
    status = 422


class PlatformUnavailable(FerryError):
    """The control plane or the serving runtime cannot be reached."""

    code = "platform_unavailable"
    status = 503


def _all_subclasses(cls: type[FerryError]) -> list[type[FerryError]]:
    out: list[type[FerryError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_class_for(code: str) -> type[FerryError]:
    """The most specific error class for a wire ``code`` (``FerryError`` if unknown)."""
    candidates: list[type[FerryError]] = [FerryError, *_all_subclasses(FerryError)]
    for cls in candidates:
        if cls.code == code:
            return cls
    return FerryError


def error_from_body(body: Any, *, status: int) -> FerryError:
    """Rebuild a typed error from a control-plane or data-plane error body."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        cls = error_class_for(str(err.get("code", "")))
        exc = cls(str(err.get("message", "")), details=err.get("details") or {})
        return exc
    # Not one of ours (a proxy, a crash page): keep the status and the text.
    for cls in [InvalidRequest, Unauthenticated, Forbidden, NotFound, Conflict,
                PlatformUnavailable]:
        if cls.status == status:
            return cls(f"HTTP {status}: {str(body)[:500]}")
    return FerryError(f"HTTP {status}: {str(body)[:500]}")
