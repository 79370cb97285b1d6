"""A handle on one deployment: predict over REST or gRPC with the same call."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ferry_contract import (
    CLIENT_REQUEST_ID_HEADER,
    GRPC_ERROR_CODE_KEY,
    RELEASE_HEADER,
    REQUEST_ID_HEADER,
    DeploymentNotFound,
    DeploymentPublic,
    FerryError,
    InvalidInput,
    InvalidRequest,
    PayloadTooLarge,
    PlatformUnavailable,
    Protocol,
    error_from_body,
    error_from_grpc,
)

if TYPE_CHECKING:
    import grpc

PredictProtocol = Literal["auto", "rest", "grpc"]
Rows = Any  # a pandas DataFrame, a list of row dicts, a dict of columns, or one row dict


@dataclass(frozen=True)
class Prediction:
    """Predictions for a batch, and the release that produced them.

    ``request_id`` joins outcomes to this request later (``client.log_outcomes``).
    ``probabilities`` (rows x ``classes``) when asked for with ``probabilities=True``."""

    predictions: list[Any]
    release_id: str
    protocol: str
    model: str = ""
    version: int | None = None
    feature_refs: list[str] = field(default_factory=list)
    request_id: str = ""
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.predictions)

    def __iter__(self) -> Any:
        return iter(self.predictions)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes)):
        return _clean(item())
    return value


def to_columns(rows: Rows) -> dict[str, list[Any]]:
    """Normalise the accepted row shapes into columns of plain Python values."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(rows, pd.DataFrame):
        return {str(c): [_clean(v) for v in rows[c].tolist()] for c in rows.columns}
    if isinstance(rows, Mapping):
        if rows and all(isinstance(v, (list, tuple)) for v in rows.values()):
            return {str(k): [_clean(v) for v in vals] for k, vals in rows.items()}
        rows = [rows]
    if isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        names: list[str] = []
        for r in rows:
            if not isinstance(r, Mapping):
                raise InvalidRequest(
                    f"each row must be a mapping of column to value, got {type(r).__name__}")
            for k in r:
                if k not in names:
                    names.append(str(k))
        cols: dict[str, list[Any]] = {n: [] for n in names}
        for r in rows:
            for n in names:
                cols[n].append(_clean(r.get(n)))
        return cols
    raise InvalidRequest(
        f"cannot predict on {type(rows).__name__}: pass a DataFrame, a list of row dicts "
        "or a dict of columns")


def to_records(columns: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    n = max((len(v) for v in columns.values()), default=0)
    return [{k: v[i] for k, v in columns.items() if i < len(v)} for i in range(n)]


@dataclass
class Deployment:
    """A deployed model. ``predict`` uses REST when the deployment serves it and gRPC otherwise.

    REST is the default because it measured faster on Ray Serve's throughput-optimized
    ingress (docs/performance.md); pass ``protocol="grpc"`` to choose gRPC."""

    info: DeploymentPublic
    predict_timeout_s: float = 30.0
    token: str | None = field(default=None, repr=False)  # the data plane checks it
    _http: httpx.Client | None = field(default=None, repr=False)
    _channel: grpc.Channel | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def release_id(self) -> str:
        return self.info.release.release_id

    @property
    def version(self) -> int:
        return self.info.release.version

    @property
    def protocol(self) -> Protocol:
        return self.info.protocol

    @property
    def endpoints(self) -> dict[str, str | None]:
        return {"rest": self.info.endpoints.rest, "grpc": self.info.endpoints.grpc}

    def predict(self, rows: Rows, *, protocol: PredictProtocol = "auto",
                probabilities: bool = False, request_id: str | None = None) -> Prediction:
        """Predict on ``rows``; the same call whatever protocol carries it.

        ``probabilities``: a classifier's class probabilities too (``.probabilities``,
        ``.classes``). ``request_id``: your own id for the request (letters, digits and
        ``._:-``, at most 64), else the platform makes one (``.request_id``)."""
        use = protocol
        if use == "auto":
            use = "rest" if self.info.endpoints.rest else "grpc"
        if use == "grpc":
            if not self.info.endpoints.grpc:
                raise InvalidRequest(f"deployment {self.name!r} does not serve gRPC "
                                     f"(protocol={self.protocol.value})")
            return self._predict_grpc(to_columns(rows), probabilities, request_id)
        if not self.info.endpoints.rest:
            raise InvalidRequest(f"deployment {self.name!r} does not serve REST "
                                 f"(protocol={self.protocol.value})")
        return self._predict_rest(to_columns(rows), probabilities, request_id)

    # -- REST ---------------------------------------------------------------------------
    def _predict_rest(self, columns: dict[str, list[Any]], probabilities: bool = False,
                      request_id: str | None = None) -> Prediction:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.predict_timeout_s)
        url = f"{self.info.endpoints.rest}/predict"
        try:
            payload_in: dict[str, Any] = {"inputs": to_records(columns)}
            if probabilities:
                payload_in["probabilities"] = True
            body = json.dumps(payload_in, allow_nan=False)
        except ValueError:
            raise _non_finite(columns) from None
        try:
            headers = {"content-type": "application/json"}
            if request_id:
                headers[CLIENT_REQUEST_ID_HEADER] = request_id
            if self.token:
                headers["authorization"] = f"Bearer {self.token}"
            resp = self._http.post(url, content=body, headers=headers)
        except httpx.TransportError as e:
            raise PlatformUnavailable(f"cannot reach {url}: {e}") from e
        try:
            payload = resp.json()
        except ValueError:
            payload = resp.text
        if resp.status_code >= 400:
            ours = isinstance(payload, dict) and "error" in payload
            if resp.status_code == 404 and not ours:
                raise DeploymentNotFound(f"no deployment is serving at {url}")
            if resp.status_code >= 500 and not ours:  # the ingress, not a Ferry router
                raise PlatformUnavailable(
                    f"the serving endpoint {url} answered HTTP {resp.status_code} without an "
                    "answer from Ferry: the deployment is starting, moving or just removed; "
                    "retry, or check `ferry status`")
            raise error_from_body(payload, status=resp.status_code)
        return Prediction(payload["predictions"], resp.headers.get(RELEASE_HEADER, ""), "rest",
                          payload.get("model", ""), payload.get("version"),
                          list(payload.get("feature_refs", [])),
                          resp.headers.get(REQUEST_ID_HEADER, payload.get("request_id", "")),
                          payload.get("probabilities"), payload.get("classes"))

    # -- gRPC ---------------------------------------------------------------------------
    def _predict_grpc(self, columns: dict[str, list[Any]], probabilities: bool = False,
                      request_id: str | None = None) -> Prediction:
        import grpc

        from ferry_contract.proto import (
            APPLICATION_METADATA_KEY,
            decode_column,
            encode_request,
            predict_pb2_grpc,
        )

        with self._lock:
            if self._channel is None:
                # Answers are bounded by the server (FERRY_SERVE_MAX_BODY_MB), not by
                # gRPC's 4 MiB client default.
                self._channel = grpc.insecure_channel(
                    str(self.info.endpoints.grpc),
                    options=[("grpc.max_receive_message_length", 2**31 - 1)])
        stub = predict_pb2_grpc.PredictorStub(self._channel)
        try:
            request = encode_request(columns, probabilities)
        except TypeError as e:
            raise InvalidRequest(str(e)) from e
        metadata: tuple[tuple[str, str], ...] = (
            (APPLICATION_METADATA_KEY, self.info.endpoints.grpc_application or self.name),)
        if self.token:
            metadata += (("authorization", f"Bearer {self.token}"),)
        if request_id:
            metadata += ((CLIENT_REQUEST_ID_HEADER, request_id),)
        try:
            resp, call = stub.Predict.with_call(request, metadata=metadata,
                                                timeout=self.predict_timeout_s)
        except grpc.RpcError as e:
            raise _grpc_error(e, self.name) from e
        trailing = dict(call.trailing_metadata() or ())
        release = trailing.get(RELEASE_HEADER, resp.release_id)
        classes = decode_column(resp.classes) if resp.HasField("classes") else None
        proba = None
        if classes is not None:
            per_class = [list(c.values) for c in resp.probabilities]
            proba = [list(row) for row in zip(*per_class, strict=True)] if per_class else []
        return Prediction(decode_column(resp.predictions), str(release), "grpc",
                          resp.model_name, int(resp.model_version) if resp.model_version else None,
                          list(resp.feature_refs),
                          str(trailing.get(REQUEST_ID_HEADER, resp.request_id)), proba, classes)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._channel is not None:
            self._channel.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _non_finite(columns: Mapping[str, list[Any]]) -> InvalidInput:
    """Name the first non-finite number (JSON cannot carry it; the data plane refuses it)."""
    for name, values in columns.items():
        for i, v in enumerate(values):
            if isinstance(v, float) and not math.isfinite(v):
                return InvalidInput(
                    f"column {name!r} holds {v} in row {i}; predictions take finite numbers "
                    "only: replace it, or pass None (NaN) for a missing value",
                    details={"problems": [{"column": name, "row": i, "problem": "not_finite",
                                           "value": str(v)}]})
    return InvalidInput("the rows hold a value that cannot be sent as JSON")


def _grpc_error(e: Any, name: str) -> FerryError:
    """The tree's error for a failed gRPC call: by the ``code`` Ferry puts in the trailing
    metadata, else by the gRPC status (Serve's and HAProxy's own answers carry none)."""
    code = e.code()
    details = e.details() or ""
    ferry_code = dict(e.trailing_metadata() or ()).get(GRPC_ERROR_CODE_KEY)
    if ferry_code is None:
        if code.name == "NOT_FOUND" and "Application" in details:
            return DeploymentNotFound(f"no deployment {name!r} is served over gRPC here "
                                      f"(Ray Serve: {details})")
        if code.name == "RESOURCE_EXHAUSTED" and "larger than max" in details:
            return PayloadTooLarge(
                f"the request is larger than the data plane accepts ({details}); split the "
                "batch into smaller requests (the limit is the platform's "
                "FERRY_SERVE_MAX_BODY_MB)")
        if code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
            return PlatformUnavailable(f"gRPC endpoint of {name!r} unavailable: {details}")
    return error_from_grpc(code.name, details, ferry_code)
