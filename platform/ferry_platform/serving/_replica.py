"""What runs inside each Ray Serve replica: load a release's Bento and serve it.

REST (``handle``) and gRPC (``grpc``) are thin adapters over one :class:`DataPlane`; the
router calls them (through a deployment handle, or in-process for its main release) after
its own checks (size, encoding, metadata; see ``_ingress``). Every answer, error answers
included, names the release that produced it, and every error is one of the contract's
tree: nothing the model or this code raises escapes as a bare exception.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
from typing import Any

from ferry_contract import (
    GRPC_ERROR_CODE_KEY,
    RELEASE_HEADER,
    FerryError,
    Forbidden,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Protocol,
    ProtocolNotServed,
    redact,
)
from ferry_platform.core import FeatureBinding, ReleaseManifest
from ferry_platform.serving import _v2
from ferry_platform.serving._dataplane import DataPlane
from ferry_platform.serving._features import FeatureJoin
from ferry_platform.serving._ingress import DEFAULT_MAX_BODY_BYTES, grpc_details, parse_json
from ferry_platform.serving._monitor import Context, ReleaseMonitor

log = logging.getLogger("ferry.replica")

GrpcAnswer = tuple[str | None, str, bytes, str, str | None]
"""(gRPC status name or None, details, serialized PredictResponse, release id, error code)."""


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


def _proba_of(service: Any) -> Any:
    """The service's ``predict_proba_frame`` (Bentos built before it existed: the raw
    model's ``predict_proba``), or None for a model without probabilities."""
    own = getattr(service, "predict_proba_frame", None)
    if own is not None:
        return own
    model = getattr(service, "model", None)
    proba = getattr(model, "predict_proba", None)
    if proba is None:
        return None
    return lambda frame: (list(getattr(model, "classes_", [])), proba(frame))


class FerryReplica:
    """The Ray Serve deployment class of every Ferry release (decorated by the runtime)."""

    def __init__(self, spec: dict[str, Any], *, loaded: tuple[ReleaseManifest, Any] | None = None,
                 ) -> None:
        """``loaded``: the (manifest, service instance) to serve instead of loading the Bento
        ``spec`` names (tests pass a service with ``predict_frame``/``example_frame``)."""
        self.manifest, self._model = loaded if loaded is not None else load_release(spec)
        # what the model saw, per thread: a router may answer requests on several threads
        self._request = threading.local()
        self._v2_meta: dict[str, Any] | None = None
        self.protocol = Protocol(spec.get("protocol", "auto"))
        self.max_body_bytes = int(spec.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES)
        self.plane = DataPlane(self.manifest.signature, self._model.predict_frame,
                               _proba_of(self._model))
        self._binding: FeatureBinding | None = None
        self._join: FeatureJoin | None = None
        if spec.get("features"):
            self._bind_features(FeatureBinding.model_validate(spec["features"]))
        self.request_plane = self._request_plane()
        logged = [(c.name, c.type) for c in self.manifest.signature]
        if self._binding is not None:  # the entity keys too: training-serving skew needs them
            logged += [(k, t) for k, t in self._binding.entity_keys.items()
                       if k not in {c.name for c in self.manifest.signature}]
        self.monitor = ReleaseMonitor(self.manifest.model, self.manifest.version,
                                      self.manifest.release_id, logged)
        rid = self.manifest.release_id
        self._headers = {RELEASE_HEADER: rid}
        self._answer_tail: dict[str, Any] = {"release_id": rid, "model": self.manifest.model,
                                             "version": self.manifest.version}
        if self._binding is not None:
            self._answer_tail["feature_refs"] = self._binding.refs
        self._metadata = _dumps({
            "release": self.manifest.to_public().model_dump(mode="json"),
            "protocol": self.protocol.value,
            "framework": self.manifest.framework,
            # a private index's or git URL's token must not reach whoever may predict
            "requirements": [redact(r) for r in self.manifest.requirements],
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

    @property
    def _inputs(self) -> dict[str, list[Any]] | None:
        """The model's input columns of this thread's request, for its log if it fails."""
        return getattr(self._request, "inputs", None)

    @_inputs.setter
    def _inputs(self, value: dict[str, list[Any]] | None) -> None:
        self._request.inputs = value

    def _predict(self, columns: dict[str, list[Any]]) -> list[Any]:
        return self._answer(columns)[0]

    def _answer(self, columns: dict[str, list[Any]], probabilities: bool = False,
                ) -> tuple[list[Any], list[Any] | None, Any, dict[str, list[Any]],
                           list[list[str]] | None]:
        """(predictions, classes, probabilities, the model's input columns, per-row feature
        lookups that missed)."""
        misses = None
        logged = columns
        if self._join is not None:
            self.request_plane.validate(columns)
            keys = {k: columns[k] for k in self._join.binding.entity_keys if k in columns}
            columns, misses = self._join.joined(columns)
            logged = {**keys, **columns}
        self._inputs = logged  # what the model saw, for the log of a failed request
        predictions, classes, proba = self.plane.answer(columns, probabilities)
        return predictions, classes, proba, logged, misses

    # -- REST ---------------------------------------------------------------------------
    def _not_an_entry_point(self) -> Forbidden:
        return Forbidden(
            f"release {self.manifest.release_id} is reached through its deployment's router "
            "(REST /<deployment>/predict, gRPC with `application` metadata), which checks the "
            "caller's token; a release's own port is not an entry point")

    async def __call__(self, request: Any) -> Any:
        """Direct-ingress REST to a release replica (Serve opens a port per replica): always
        refused, so nothing reaches a model around its router's token check."""
        from starlette.responses import Response

        err = self._not_an_entry_point()
        return Response(err.to_json(release_id=self.manifest.release_id),
                        status_code=err.status, media_type="application/json",
                        headers=self._headers)

    async def handle(self, method: str, path: str, body: bytes,
                     ctx: Context | None = None, headers: dict[str, str] | None = None,
                     ) -> tuple[int, bytes, str]:
        """One REST call, as the router forwards it: (status, JSON body, release id).
        ``ctx``: the request's id, arm and deployment (the router's), for the log;
        ``headers``: the few request headers a route reads (V2's binary-tensor length)."""
        return self.answer(method, path, body, ctx, headers)

    def answer(self, method: str, path: str, body: bytes, ctx: Context | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        """:meth:`handle`, synchronously (a router may run it on a thread of its own)."""
        rid = self.manifest.release_id
        started = time.perf_counter()
        self._inputs = None
        v2 = _v2.is_v2(path)
        try:
            if v2:
                return 200, self._v2_rest(method, path, body, ctx, started, headers or {}), rid
            return 200, self._rest(method, path, body, ctx, started), rid
        except FerryError as e:
            self._failed(ctx, started, e)
            return e.status, _v2.error_json(e, rid) if v2 else e.to_json(release_id=rid), rid
        except Exception as e:  # noqa: BLE001 - a bug here must still answer from the tree
            err = self._unexpected(e)
            self._failed(ctx, started, err)
            return err.status, _v2.error_json(err, rid) if v2 else err.to_json(
                release_id=rid), rid

    def _failed(self, ctx: Context | None, started: float, e: FerryError) -> None:
        self.monitor.failed(ctx, started, e, self._inputs)

    def _rest(self, method: str, path: str, body: bytes, ctx: Context | None = None,
              started: float = 0.0) -> bytes:
        path = path.rstrip("/")
        leaf = path.rsplit("/", 1)[-1]
        if leaf == "predict":
            if method != "POST":
                raise MethodNotAllowed(f"{method} {path}: use POST for /predict")
            if self.protocol is Protocol.grpc:
                raise ProtocolNotServed(
                    f"deployment {self.manifest.model!r} serves gRPC only; call it over "
                    "gRPC or redeploy with protocol='auto'")
            return self._predict_json(body, ctx, started)
        if leaf == "metadata":
            return self._metadata
        if leaf == "healthz":
            return b'{"status":"ok"}'
        raise NotFound(f"no route {path!r}; use POST .../predict or GET .../metadata")

    # -- Open Inference Protocol (V2) ------------------------------------------------------
    def _deployment(self, ctx: Context | None) -> str:
        return (ctx or {}).get("deployment") or self.manifest.model

    def _v2_metadata(self, name: str) -> dict[str, Any]:
        """V2 metadata: the request's inputs (the signature, or with features the entity keys
        and request-time inputs), the outputs (the predictions' type from the example)."""
        if self._v2_meta is None:
            predictions = self._model.predict_frame(self._example)
            tolist = getattr(predictions, "tolist", None)
            values = list(tolist() if tolist is not None else predictions)
            classes = None
            proba = _proba_of(self._model)
            if proba is not None:
                got = proba(self._example)
                classes = len(got[0]) if got is not None else None
            self._v2_meta = _v2.metadata(
                "", str(self.manifest.version), self.manifest.framework,
                self.request_plane.columns, _v2.datatype_of_values(values), classes)
        return {**self._v2_meta, "name": name}

    def _v2_rest(self, method: str, path: str, body: bytes, ctx: Context | None,
                 started: float, headers: dict[str, str]) -> bytes:
        name = self._deployment(ctx)
        route = _v2.route_of(path, "/" + path.split("/")[1])  # under /<deployment>
        if route is None:
            raise NotFound(f"no V2 route {path[:80]!r}")
        rid = self.manifest.release_id
        if route.kind in ("live", "ready"):
            return _dumps({route.kind: True})
        if route.kind == "server":
            return _dumps({"name": "ferry", "version": rid, "extensions": []})
        _v2.check_model(route.model, name)
        if route.kind == "infer":
            if method != "POST":
                raise MethodNotAllowed(f"{method} {path}: use POST for .../infer")
            if self.protocol is Protocol.grpc:
                raise ProtocolNotServed(
                    f"deployment {name!r} serves gRPC only; call it over gRPC or redeploy "
                    "with protocol='auto'")
            return self._v2_infer_json(name, body, headers, ctx, started)
        if method != "GET":
            raise MethodNotAllowed(f"{method} {path}: use GET")
        if route.kind == "model_ready":
            return _dumps({"name": name, "ready": True, "parameters": {"release_id": rid}})
        return _dumps({**self._v2_metadata(name), "parameters": {"release_id": rid}})

    def _v2_infer_json(self, name: str, body: bytes, headers: dict[str, str],
                       ctx: Context | None, started: float) -> bytes:
        binary = b""
        length = headers.get(_v2.BINARY_HEADER)
        if length is not None:
            # ASCII digits only: str.isdigit() also takes '²', which int() refuses
            if not (length.isascii() and length.isdigit()) or len(length) > 12 \
                    or int(length) > len(body):
                raise InvalidRequest(f"{_v2.BINARY_HEADER} {length[:20]!r} is not a length "
                                     f"within the {len(body):,}-byte body")
            body, binary = body[:int(length)], body[int(length):]
        try:
            payload = parse_json(body)
        except InvalidRequest as e:
            if length is None:
                raise
            raise InvalidRequest(f"{e.message} (the JSON part is the first {length} bytes, as "
                                 f"the {_v2.BINARY_HEADER} header says: send it only with "
                                 "binary tensors, and equal to the JSON's length)") from None
        tensors, outputs, request_id = _v2.tensors_from_json(payload, binary)
        return self._check_answer(_v2.rest_answer(
            name, str(self.manifest.version), request_id,
            *self._v2_infer(name, tensors, outputs, ctx, started)))

    def _v2_infer(self, name: str, tensors: list[_v2.Tensor], outputs: list[str],
                  ctx: Context | None, started: float,
                  ) -> tuple[list[_v2.Output], dict[str, str]]:
        chosen, wants = _v2.wanted_outputs(outputs)
        columns = _v2.columns_of(tensors, self.request_plane.columns, name)
        predictions, classes, proba, inputs, misses = self._answer(columns, wants)
        self.monitor.answered(ctx, started, inputs, predictions, proba, classes, misses)
        parameters = {"release_id": self.manifest.release_id}
        if ctx:
            parameters["request_id"] = ctx["id"]
        return _v2.outputs_of(chosen, predictions, classes, proba), parameters

    async def v2_grpc(self, rpc: str, request: bytes, ctx: Context | None = None) -> GrpcAnswer:
        """One call of ``inference.GRPCInferenceService`` as the router forwards it (ModelReady,
        ModelMetadata, ModelInfer): the request's bytes in; (gRPC status name or None,
        details, the serialized response, release id, error code or None) out."""
        return self.v2_grpc_answer(rpc, request, ctx)

    def v2_grpc_answer(self, rpc: str, request: bytes,
                       ctx: Context | None = None) -> GrpcAnswer:
        """:meth:`v2_grpc`, synchronously (a router may run it on a thread of its own)."""
        from ferry_contract.proto import inference_pb2 as v2pb

        rid = self.manifest.release_id
        started = time.perf_counter()
        self._inputs = None
        name = self._deployment(ctx)
        try:
            if len(request) > self.max_body_bytes:
                raise PayloadTooLarge(
                    f"the gRPC message ({len(request):,} bytes) exceeds the data plane's "
                    f"limit of {self.max_body_bytes:,} bytes (FERRY_SERVE_MAX_BODY_MB); "
                    "split the batch", details={"limit_bytes": self.max_body_bytes})
            message = _v2.parse_message(v2pb, rpc, request)
            if rpc == "ModelInfer":
                _v2.check_model(message.model_name, name)
                if self.protocol is Protocol.rest:
                    raise ProtocolNotServed(f"deployment {name!r} serves REST only; redeploy "
                                            "with protocol='auto' to enable gRPC")
                tensors, outputs, request_id = _v2.tensors_from_grpc(message)
                got, parameters = self._v2_infer(name, tensors, outputs, ctx, started)
                answer = self._check_answer(_v2.grpc_answer(
                    v2pb, name, str(self.manifest.version), request_id, got,
                    parameters).SerializeToString())
            elif rpc == "ModelMetadata":
                _v2.check_model(message.name, name)
                answer = _v2.grpc_metadata(v2pb, self._v2_metadata(name)).SerializeToString()
            elif rpc == "ModelReady":
                _v2.check_model(message.name, name)
                answer = v2pb.ModelReadyResponse(ready=True).SerializeToString()
            else:
                raise NotFound(f"{rpc} is answered by the deployment's router")
        except FerryError as e:
            self._failed(ctx, started, e)
            return e.grpc_status, e.message, b"", rid, e.code
        except Exception as e:  # noqa: BLE001 - a bug here must still answer from the tree
            err = self._unexpected(e)
            self._failed(ctx, started, err)
            return err.grpc_status, err.message, b"", rid, err.code
        return None, "", answer, rid, None

    def _unexpected(self, e: Exception) -> FerryError:
        log.error("release %s failed on a request", self.manifest.release_id, exc_info=e)
        return FerryError(
            f"release {self.manifest.release_id} failed on this request "
            f"({type(e).__name__}); the replica's log has the traceback")

    def _predict_json(self, body: bytes, ctx: Context | None = None,
                      started: float = 0.0) -> bytes:
        if len(body) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"the request body ({len(body):,} bytes) exceeds the data plane's limit of "
                f"{self.max_body_bytes:,} bytes (FERRY_SERVE_MAX_BODY_MB); split the batch",
                details={"limit_bytes": self.max_body_bytes, "size": len(body)})
        payload = parse_json(body)
        if not isinstance(payload, dict) or "inputs" not in payload:
            raise InvalidRequest(
                "body must be a JSON object with 'inputs': a list of rows, e.g. "
                '{"inputs": [{"' + '": ..., "'.join(c.name for c in self.request_plane.columns[:3])
                + '": ...}]}'
            )
        extra = set(payload) - {"inputs", "probabilities"}
        if extra:
            shown = sorted(str(k)[:40] for k in extra)[:10]
            raise InvalidRequest(f"unexpected top-level keys {shown}; only 'inputs' and "
                                 "'probabilities' are read")
        wants = payload.get("probabilities", False)
        if not isinstance(wants, bool):
            raise InvalidRequest(f"'probabilities' must be true or false, got "
                                 f"{str(wants)[:40]!r}")
        columns = self.request_plane.columns_from_records(payload["inputs"])
        predictions, classes, proba, inputs, misses = self._answer(columns, wants)
        self.monitor.answered(ctx, started, inputs, predictions, proba, classes, misses)
        answer: dict[str, Any] = {"predictions": predictions, **self._answer_tail}
        if ctx:
            answer["request_id"] = ctx["id"]
        if wants:
            answer["classes"] = classes
            answer["probabilities"] = proba.tolist() if hasattr(proba, "tolist") else proba
        return self._check_answer(_dumps(answer))

    def _check_answer(self, answer: bytes) -> bytes:
        """Answers are held to the same limit as requests (Serve's gRPC hops are)."""
        if len(answer) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"the answer ({len(answer):,} bytes) exceeds the data plane's limit of "
                f"{self.max_body_bytes:,} bytes (FERRY_SERVE_MAX_BODY_MB); send fewer rows "
                "per request", details={"limit_bytes": self.max_body_bytes, "size": len(answer)})
        return answer

    # -- gRPC ---------------------------------------------------------------------------
    async def Predict(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802 - RPC name
        """Direct-ingress gRPC to a release replica: always refused (see ``__call__``)."""
        import grpc

        from ferry_contract.proto import predict_pb2

        err = self._not_an_entry_point()
        grpc_context.set_trailing_metadata([(RELEASE_HEADER, self.manifest.release_id),
                                            (GRPC_ERROR_CODE_KEY, err.code)])
        grpc_context.set_code(getattr(grpc.StatusCode, err.grpc_status))
        grpc_context.set_details(grpc_details(err.message))
        return predict_pb2.PredictResponse()

    def _refused_v2(self, rpc: str, grpc_context: Any) -> Any:
        """Direct-ingress V2 gRPC to a release replica: refused like ``Predict``."""
        import grpc

        from ferry_contract.proto import inference_pb2

        err = self._not_an_entry_point()
        grpc_context.set_trailing_metadata([(RELEASE_HEADER, self.manifest.release_id),
                                            (GRPC_ERROR_CODE_KEY, err.code)])
        grpc_context.set_code(getattr(grpc.StatusCode, err.grpc_status))
        grpc_context.set_details(grpc_details(err.message))
        return getattr(inference_pb2, f"{rpc}Response")()

    async def ServerLive(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802 - RPC name
        return self._refused_v2("ServerLive", grpc_context)

    async def ServerReady(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return self._refused_v2("ServerReady", grpc_context)

    async def ServerMetadata(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return self._refused_v2("ServerMetadata", grpc_context)

    async def ModelReady(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return self._refused_v2("ModelReady", grpc_context)

    async def ModelMetadata(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return self._refused_v2("ModelMetadata", grpc_context)

    async def ModelInfer(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return self._refused_v2("ModelInfer", grpc_context)

    async def grpc(self, request: bytes, ctx: Context | None = None) -> GrpcAnswer:
        """One gRPC call as the router forwards it: the serialized ``PredictRequest`` in;
        (gRPC status name or None, details, serialized ``PredictResponse``, release id,
        error code or None) out. ``ctx``: the request's id, arm and deployment."""
        return self.grpc_answer(request, ctx)

    def grpc_answer(self, request: bytes, ctx: Context | None = None) -> GrpcAnswer:
        """:meth:`grpc`, synchronously (a router may run it on a thread of its own)."""
        from ferry_contract.proto import encode_column, predict_pb2

        rid = self.manifest.release_id
        started = time.perf_counter()
        self._inputs = None
        try:
            predictions, refs, classes, proba = self._predict_grpc(request, ctx, started)
            response = predict_pb2.PredictResponse(
                predictions=encode_column(predictions),
                release_id=rid,
                model_name=self.manifest.model,
                model_version=str(self.manifest.version),
                feature_refs=refs,
                request_id=ctx["id"] if ctx else "",
            )
            if classes is not None:
                response.classes.CopyFrom(encode_column(classes))
                for k in range(len(classes)):
                    response.probabilities.add().values.extend(
                        [float(row[k]) for row in proba])
            answer = self._check_answer(response.SerializeToString())
        except FerryError as e:
            self._failed(ctx, started, e)
            return self._grpc_error(e)
        except Exception as e:  # noqa: BLE001 - a bug here must still answer from the tree
            err = self._unexpected(e)
            self._failed(ctx, started, err)
            return self._grpc_error(err)
        return None, "", answer, rid, None

    def _predict_grpc(self, request: bytes, ctx: Context | None = None, started: float = 0.0,
                      ) -> tuple[list[Any], list[str], list[Any] | None, Any]:
        from ferry_contract.proto import decode_request, parse_request

        if self.protocol is Protocol.rest:
            raise ProtocolNotServed(
                f"deployment {self.manifest.model!r} serves REST only; redeploy with "
                "protocol='auto' to enable gRPC")
        if len(request) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"the gRPC message ({len(request):,} bytes) exceeds the data plane's limit of "
                f"{self.max_body_bytes:,} bytes (FERRY_SERVE_MAX_BODY_MB); split the batch",
                details={"limit_bytes": self.max_body_bytes, "size": len(request)})
        message = parse_request(request)
        wants = bool(message.probabilities)
        predictions, classes, proba, inputs, misses = self._answer(decode_request(message),
                                                                   wants)
        self.monitor.answered(ctx, started, inputs, predictions, proba, classes, misses)
        return predictions, self._binding.refs if self._binding else [], classes, proba

    def _grpc_error(self, e: FerryError) -> GrpcAnswer:
        from ferry_contract.proto import predict_pb2

        rid = self.manifest.release_id
        return (e.grpc_status, e.message, predict_pb2.PredictResponse(
            release_id=rid).SerializeToString(), rid, e.code)

    def release_id(self) -> str:
        """Which release this replica serves (asked by the control plane when reconciling)."""
        return self.manifest.release_id

    def check_health(self) -> None:
        """Serve's health probe: the model must still answer its logged input example."""
        self._model.predict_frame(self._example)

    def __del__(self) -> None:
        """Serve's graceful shutdown: write what the prediction log still holds."""
        try:
            if self.monitor.enabled:
                from ferry_platform.serving._predlog import shared

                shared().flush()
        except Exception:  # noqa: BLE001 - shutting down
            pass
