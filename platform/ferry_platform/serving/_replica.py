"""What runs inside each Ray Serve replica: load a release's Bento and serve it.

REST (``__call__``) and gRPC (``Predict``) are thin adapters over one :class:`DataPlane`.
Every answer, error answers included, names the release that produced it.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from ferry_contract import (
    RELEASE_HEADER,
    FerryError,
    InvalidRequest,
    NotFound,
    Protocol,
)
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.serving._dataplane import DataPlane
from ferry_platform.serving._features import FeatureJoin

MAX_BODY_BYTES = 16 * 1024 * 1024


def load_release(spec: dict[str, Any]) -> tuple[ReleaseManifest, Any]:
    """Load the release's Bento (importing it from its export if this node lacks it).

    Returns the manifest read back from the Bento's own labels and an instance of its
    BentoML service class. Refuses a Bento whose labels disagree with the release spec.
    """
    manifest = ReleaseManifest.model_validate(spec["manifest"])
    home = spec.get("bentoml_home")
    if home:
        os.environ["BENTOML_HOME"] = home
    import bentoml

    try:
        bento = bentoml.get(manifest.bento_tag)
    except bentoml.exceptions.NotFound:
        if not manifest.bento_uri:
            raise
        bento = bentoml.import_bento(manifest.bento_uri)
    labelled = ReleaseManifest.from_labels(dict(bento.info.labels))
    if (labelled.release_id, labelled.model_digest) != (manifest.release_id, manifest.model_digest):
        raise RuntimeError(
            f"Bento {manifest.bento_tag} holds release {labelled.release_id} "
            f"({labelled.model_digest}), not {manifest.release_id} ({manifest.model_digest})"
        )
    service = bentoml.load(manifest.bento_tag)
    service_class = getattr(service, "inner", None)
    if service_class is None:
        raise RuntimeError(f"Bento {manifest.bento_tag} is not a new-style @bentoml.service")
    return labelled, service_class()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


class FerryReplica:
    """The Ray Serve deployment class of every Ferry release (decorated by the runtime)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.manifest, self._model = load_release(spec)
        self.protocol = Protocol(spec.get("protocol", "auto"))
        self.plane = DataPlane(self.manifest.signature, self._model.predict_frame)
        self._binding: FeatureBinding | None = None
        self._join: FeatureJoin | None = None
        if spec.get("features"):
            self._bind_features(FeatureBinding.model_validate(spec["features"]))
        self.request_plane = self._request_plane()
        rid = self.manifest.release_id
        self._headers = {RELEASE_HEADER: rid}
        self._trailing = [(RELEASE_HEADER, rid)]
        self._answer_tail: dict[str, Any] = {"release_id": rid, "model": self.manifest.model,
                                             "version": self.manifest.version}
        if self._binding is not None:
            self._answer_tail["feature_refs"] = self._binding.refs
        self._metadata = _dumps({
            "release": self.manifest.to_public().model_dump(mode="json"),
            "protocol": self.protocol.value,
            "framework": self.manifest.framework,
            "requirements": self.manifest.requirements,
        })
        example = self._model.example_frame()
        self._example = example if example is not None else self.plane.frame(
            {k: [v] for k, v in self.plane.sample_row().items()})
        # Fail now, not on the first request, if the model cannot predict at all.
        self.check_health()

    # -- features -----------------------------------------------------------------------
    def _bind_features(self, binding: FeatureBinding) -> None:
        module, _, name = binding.fetcher.partition(":")
        fetcher = getattr(importlib.import_module(module), name)(**binding.config)
        self._join = FeatureJoin(binding, fetcher, self.manifest.signature)
        self._binding = binding

    def _request_plane(self) -> DataPlane:
        """What a request must carry: the model's inputs, or with features the entity keys
        and the request-time inputs (the model inputs the feature store does not hold)."""
        if self._join is None:
            return self.plane
        return DataPlane(self._join.request_columns(), self._model.predict_frame)

    def _predict(self, columns: dict[str, list[Any]]) -> list[Any]:
        if self._join is None:
            return self.plane.predict(columns)
        self.request_plane.validate(columns)
        return self.plane.predict(self._join.model_columns(columns))

    # -- REST ---------------------------------------------------------------------------
    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        body = await request.body() if request.method == "POST" else b""
        status, payload, _ = await self.handle(request.method, request.url.path, body)
        return Response(payload, status_code=status, media_type="application/json",
                        headers=self._headers)

    async def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        """One REST call, as the router forwards it: (status, JSON body, release id)."""
        path = path.rstrip("/")
        leaf = path.rsplit("/", 1)[-1]
        rid = self.manifest.release_id
        try:
            if leaf == "predict":
                if method != "POST":
                    return self._error(405, "method_not_allowed", "use POST for /predict")
                if self.protocol is Protocol.grpc:
                    return self._error(
                        404, "protocol_not_served",
                        f"deployment {self.manifest.model!r} serves gRPC only; call it over "
                        "gRPC or redeploy with protocol='auto'")
                return 200, self._predict_json(body), rid
            if leaf == "metadata":
                return 200, self._metadata, rid
            if leaf == "healthz":
                return 200, b'{"status":"ok"}', rid
            return self._error(
                404, "not_found", f"no route {path!r}; use POST .../predict or GET .../metadata")
        except FerryError as e:
            return self._error(e.status, e.code, e.message, e.details)

    def _predict_json(self, body: bytes) -> bytes:
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidRequest(
                f"body is not valid JSON ({e}); send {{\"inputs\": [{{column: value}}, ...]}}"
            ) from e
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise InvalidRequest(
                "body must be a JSON object with 'inputs': a list of rows, e.g. "
                '{"inputs": [{"' + '": ..., "'.join(c.name for c in self.request_plane.columns[:3])
                + '": ...}]}'
            )
        extra = set(payload) - {"inputs"}
        if extra:
            raise InvalidRequest(f"unexpected top-level keys {sorted(extra)}; only 'inputs' is read")
        columns = self.request_plane.columns_from_records(payload["inputs"])
        predictions = self._predict(columns)
        return _dumps({"predictions": predictions, **self._answer_tail})

    def _error(self, status: int, code: str, message: str,
               details: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        body: dict[str, Any] = {"code": code, "message": message, "release_id":
                                self.manifest.release_id}
        if details:
            body["details"] = details
        return status, _dumps({"error": body}), self.manifest.release_id

    # -- gRPC ---------------------------------------------------------------------------
    async def Predict(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802 - RPC name
        # async on purpose: a sync method would be handed to a thread pool per call.
        import grpc

        from ferry_contract.proto import decode_request, encode_column, predict_pb2

        grpc_context.set_trailing_metadata(self._trailing)
        if self.protocol is Protocol.rest:
            grpc_context.set_code(grpc.StatusCode.UNIMPLEMENTED)
            grpc_context.set_details(
                f"deployment {self.manifest.model!r} serves REST only; "
                "redeploy with protocol='auto' to enable gRPC")
            return predict_pb2.PredictResponse()
        try:
            predictions = self._predict(decode_request(request))
        except FerryError as e:
            grpc_context.set_code(grpc.StatusCode.NOT_FOUND if isinstance(e, NotFound)
                                  else grpc.StatusCode.INVALID_ARGUMENT)
            grpc_context.set_details(e.message)
            return predict_pb2.PredictResponse(release_id=self.manifest.release_id)
        return predict_pb2.PredictResponse(
            predictions=encode_column(predictions),
            release_id=self.manifest.release_id,
            model_name=self.manifest.model,
            model_version=str(self.manifest.version),
            feature_refs=self._binding.refs if self._binding else [],
        )

    async def grpc(self, request: bytes) -> tuple[str | None, str, bytes, str]:
        """One gRPC call as the router forwards it: (status code name or None, details,
        serialized PredictResponse, release id)."""
        from ferry_contract.proto import decode_request, encode_column, predict_pb2

        rid = self.manifest.release_id
        if self.protocol is Protocol.rest:
            return ("UNIMPLEMENTED", f"deployment {self.manifest.model!r} serves REST only; "
                    "redeploy with protocol='auto' to enable gRPC", b"", rid)
        try:
            predictions = self._predict(decode_request(
                predict_pb2.PredictRequest.FromString(request)))
        except FerryError as e:
            code = "NOT_FOUND" if isinstance(e, NotFound) else "INVALID_ARGUMENT"
            return code, e.message, predict_pb2.PredictResponse(
                release_id=rid).SerializeToString(), rid
        return None, "", predict_pb2.PredictResponse(
            predictions=encode_column(predictions),
            release_id=rid,
            model_name=self.manifest.model,
            model_version=str(self.manifest.version),
            feature_refs=self._binding.refs if self._binding else [],
        ).SerializeToString(), rid

    def release_id(self) -> str:
        """Which release this replica serves (asked by the control plane when reconciling)."""
        return self.manifest.release_id

    def check_health(self) -> None:
        """Serve's health probe: the model must still answer its logged input example."""
        self._model.predict_frame(self._example)
