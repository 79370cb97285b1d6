"""Ferry's one error tree, shared by the control plane, the data plane, the SDK and the CLI.

Every error carries a stable ``code`` (what scripts match on), the HTTP ``status`` the
control plane and the data plane answer with, the gRPC status the data plane answers with,
a message that names the bad value and the fix, and optional structured ``details``.
Every error body on the wire is built by :meth:`FerryError.to_body` (a failed job's record
by :meth:`FerryError.to_record`); the SDK turns a body back into the same class with
:func:`error_from_body`, and a gRPC status with :func:`error_from_grpc`. A code the SDK
does not know (a newer server) maps by its HTTP or gRPC status and keeps its code.

    FerryError (500, internal)
    ├── InvalidRequest (400, invalid_request)      malformed body, bad argument
    │   ├── InvalidInput (422, invalid_input)      predict rows do not match the signature
    │   ├── InvalidFeatureDefinition (422, invalid_feature_definition)  names file and line
    │   ├── MethodNotAllowed (405, method_not_allowed)
    │   ├── PayloadTooLarge (413, too_large)       body or gRPC message over the limit
    │   └── UnsupportedMediaType (415, unsupported_media_type)  e.g. an unknown Content-Encoding
    ├── NotFound (404, not_found)
    │   ├── ModelNotFound (404, model_not_found)
    │   ├── VersionNotFound (404, version_not_found)
    │   ├── DeploymentNotFound (404, deployment_not_found)
    │   ├── FeatureNotFound (404, feature_not_found)   unknown view, version or feature
    │   ├── JobNotFound (404, job_not_found)
    │   ├── IdentityNotFound (404, identity_not_found)  unknown team, user or token
    │   └── ProtocolNotServed (404, protocol_not_served)  REST to a gRPC-only deployment, or back
    ├── Unauthenticated (401, unauthenticated)     no token, or an unknown/expired/revoked one
    ├── Forbidden (403, forbidden)                 the caller's role does not allow it
    ├── Conflict (409, conflict)                   e.g. a deploy of that name is under way
    │   ├── RolloutInProgress (409, rollout_in_progress)  promote, abort or roll it back first
    │   ├── NoRollout (409, no_rollout)                weights, promote or abort without one
    │   ├── NoPreviousRelease (409, no_previous_release)  nothing to roll back to
    │   ├── ContractChange (409, contract_change)  the new version takes other requests
    │   └── Interrupted (409, interrupted)          a job cut off by a stop of the control plane
    ├── TooManyRequests (429, too_many_requests)  a bounded resource is busy: retry later
    ├── GateFailed (422, gate_failed)              the version failed its promotion gate
    ├── EvaluationFailed (422, evaluation_failed)  a version could not be evaluated (it did
    │                                              not load, ran out of memory or time, or
    │                                              its artifacts changed since registration)
    ├── ReleaseFailed (422, release_failed)        the model could not be packaged or loaded
    ├── IncompatibleRelease (422, incompatible_release)  code/data do not match the model
    ├── ModelError (500, model_error)              the model raised on input that was valid
    └── PlatformUnavailable (503, platform_unavailable)  control plane or runtime unreachable
        ├── NoRelease (503, no_release)            the deployment has no release taking traffic
        └── ReleaseUnavailable (503, release_unavailable)  the release's replica did not answer
"""

from __future__ import annotations

from typing import Any

GRPC_ERROR_CODE_KEY = "x-ferry-error-code"
"""gRPC trailing-metadata key carrying an error's ``code`` (the status carries the class)."""


class FerryError(Exception):
    """Root of every Ferry error. ``code``, ``status`` and ``grpc_status`` are stable API.

    An instance may carry another ``code``/``status`` than its class: an error the SDK
    rebuilt from a code it does not know keeps the server's code and status."""

    code: str = "internal"
    status: int = 500
    grpc_status: str = "INTERNAL"
    """Name of the ``grpc.StatusCode`` the data plane answers with."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self, **extra: Any) -> dict[str, Any]:
        """The JSON body every API answers with: ``{"error": {code, message, [details], ...extra}}``.

        ``extra`` adds fields to the error object (the data plane adds ``release_id``)."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        body.update(extra)
        return {"error": body}

    def to_json(self, **extra: Any) -> bytes:
        """:meth:`to_body` serialized compactly (what the data plane sends)."""
        import json

        return json.dumps(self.to_body(**extra), separators=(",", ":"), default=str).encode()

    def to_v2_json(self, **extra: Any) -> bytes:
        """The Open Inference Protocol's error body, ``{"error": "<message>"}``, with this
        error's code (and ``details``, ``extra``) beside it for clients that read them."""
        import json

        body: dict[str, Any] = {"error": self.message, **self.to_body(**extra)["error"]}
        body.pop("message")
        return json.dumps(body, separators=(",", ":"), default=str).encode()

    def to_record(self) -> dict[str, Any]:
        """What a failed job stores: the body's fields plus the status."""
        return {"code": self.code, "message": self.message, "status": self.status,
                "details": self.details}

    def __str__(self) -> str:
        return self.message


class InvalidRequest(FerryError):
    """The request is malformed or an argument is out of range."""

    code = "invalid_request"
    status = 400
    grpc_status = "INVALID_ARGUMENT"


class InvalidInput(InvalidRequest):
    """Prediction input does not match the model's signature. ``details['problems']`` lists each."""

    code = "invalid_input"
    status = 422


class InvalidFeatureDefinition(InvalidRequest):
    """A feature definition file does not load. ``details`` has ``file`` and ``line``."""

    code = "invalid_feature_definition"
    status = 422


class MethodNotAllowed(InvalidRequest):
    """The path exists, the HTTP method does not (e.g. GET on ``/<name>/predict``)."""

    code = "method_not_allowed"
    status = 405
    grpc_status = "UNIMPLEMENTED"


class PayloadTooLarge(InvalidRequest):
    """A request body (or gRPC message) over the limit; the message names the limit."""

    code = "too_large"
    status = 413
    grpc_status = "RESOURCE_EXHAUSTED"


class UnsupportedMediaType(InvalidRequest):
    """A body in an encoding or format the endpoint does not read."""

    code = "unsupported_media_type"
    status = 415


class NotFound(FerryError):
    code = "not_found"
    status = 404
    grpc_status = "NOT_FOUND"


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


class ProtocolNotServed(NotFound):
    """The deployment does not serve this protocol (REST to a gRPC-only one, or back)."""

    code = "protocol_not_served"
    grpc_status = "UNIMPLEMENTED"


class Unauthenticated(FerryError):
    """No credentials, or credentials the control plane does not accept. Never echoes them."""

    code = "unauthenticated"
    status = 401
    grpc_status = "UNAUTHENTICATED"


class Forbidden(FerryError):
    """Authenticated, but the caller's role in the owning team does not allow the change."""

    code = "forbidden"
    status = 403
    grpc_status = "PERMISSION_DENIED"


class Conflict(FerryError):
    code = "conflict"
    status = 409
    grpc_status = "FAILED_PRECONDITION"


class RolloutInProgress(Conflict):
    """A rollout of this deployment is under way."""

    code = "rollout_in_progress"


class NoRollout(Conflict):
    """The deployment has no rollout to change, promote or abort."""

    code = "no_rollout"


class NoPreviousRelease(Conflict):
    """Rollback asked of a deployment with no previous release."""

    code = "no_previous_release"


class TooManyRequests(FerryError):
    """A bounded resource (e.g. training-set builds) is busy; retry in a moment."""

    code = "too_many_requests"
    status = 429
    grpc_status = "RESOURCE_EXHAUSTED"


class ContractChange(Conflict):
    """The version would change what clients must send (``details['changes']``): refused
    unless the deploy allows it explicitly; a rollout of it is refused outright."""

    code = "contract_change"


class Interrupted(Conflict):
    """A job the control plane was running when it stopped; it was failed on restart."""

    code = "interrupted"


class GateFailed(FerryError):
    """The version did not pass its evaluation gate (details name each failing check)."""

    code = "gate_failed"
    status = 422
    grpc_status = "FAILED_PRECONDITION"


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
    grpc_status = "FAILED_PRECONDITION"


class IncompatibleRelease(FerryError):
    """The model, its code or its data do not match; the deploy is refused."""

    code = "incompatible_release"
    status = 422
    grpc_status = "FAILED_PRECONDITION"


class ModelError(FerryError):
    """The model raised on input that matched its signature: the release's fault, not the
    caller's, and not worth retrying. ``details`` name the release and the exception."""

    code = "model_error"


class PlatformUnavailable(FerryError):
    """The control plane or the serving runtime cannot be reached."""

    code = "platform_unavailable"
    status = 503
    grpc_status = "UNAVAILABLE"


class NoRelease(PlatformUnavailable):
    """The deployment exists but no release takes traffic (e.g. mid-way through a deploy)."""

    code = "no_release"


class ReleaseUnavailable(PlatformUnavailable):
    """The release chosen for the request did not answer (its replica died or is restarting);
    the request may be retried."""

    code = "release_unavailable"


def _all_subclasses(cls: type[FerryError]) -> list[type[FerryError]]:
    out: list[type[FerryError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_classes() -> list[type[FerryError]]:
    """Every class of the tree, root first."""
    return [FerryError, *_all_subclasses(FerryError)]


def error_class_for(code: str) -> type[FerryError]:
    """The class of a wire ``code`` (``FerryError`` if unknown; see :func:`is_known_code`)."""
    for cls in error_classes():
        if cls.code == code:
            return cls
    return FerryError


def is_known_code(code: str) -> bool:
    return any(cls.code == code for cls in error_classes())


_BY_STATUS: dict[int, type[FerryError]] = {
    400: InvalidRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound,
    405: MethodNotAllowed, 409: Conflict, 413: PayloadTooLarge, 415: UnsupportedMediaType,
    422: InvalidRequest, 429: PlatformUnavailable, 500: FerryError, 502: PlatformUnavailable,
    503: PlatformUnavailable, 504: PlatformUnavailable,
}


def error_class_for_status(status: int) -> type[FerryError]:
    """The class an HTTP ``status`` means when the body names no known code."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return InvalidRequest
    return FerryError


def error_from_body(body: Any, *, status: int) -> FerryError:
    """Rebuild a typed error from an error answer of the control plane or the data plane.

    A known ``code`` gives its class; an unknown one (or a body that is not Ferry's, e.g.
    a proxy's page) gives the class of the HTTP ``status``, keeping the code and status."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = str(err.get("code") or "")
        message = str(err.get("message", ""))
        details = err.get("details") if isinstance(err.get("details"), dict) else {}
        if is_known_code(code):
            return error_class_for(code)(message, details=details)
        cls = error_class_for_status(status)
        return cls(message, details=details, code=code or None,
                   status=status if status != cls.status else None)
    cls = error_class_for_status(status)
    return cls(f"HTTP {status}: {str(body)[:500]}",
               status=status if status != cls.status else None)


_BY_GRPC: dict[str, type[FerryError]] = {
    "INVALID_ARGUMENT": InvalidRequest, "OUT_OF_RANGE": InvalidRequest,
    "FAILED_PRECONDITION": Conflict, "ALREADY_EXISTS": Conflict, "ABORTED": Conflict,
    "NOT_FOUND": NotFound, "UNIMPLEMENTED": ProtocolNotServed,
    "PERMISSION_DENIED": Forbidden, "UNAUTHENTICATED": Unauthenticated,
    "RESOURCE_EXHAUSTED": PlatformUnavailable, "UNAVAILABLE": PlatformUnavailable,
    "DEADLINE_EXCEEDED": PlatformUnavailable, "CANCELLED": PlatformUnavailable,
    "UNKNOWN": FerryError, "INTERNAL": FerryError, "DATA_LOSS": FerryError,
}

def error_from_grpc(status: str, details: str, code: str | None = None) -> FerryError:
    """Rebuild a typed error from a gRPC status name, its details and the ``code`` the data
    plane sends in the :data:`GRPC_ERROR_CODE_KEY` trailing metadata (if any)."""
    if code and is_known_code(code):
        return error_class_for(code)(details)
    cls = _BY_GRPC.get(status, FerryError)
    if status == "RESOURCE_EXHAUSTED" and "larger than max" in details:
        # gRPC's own message-size check, before Ferry's code ran
        cls = PayloadTooLarge
    return cls(details or f"gRPC {status}", code=code or None)
