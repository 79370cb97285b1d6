"""The ingress of every Ferry deployment: splits traffic between its live releases.

Each release runs as its own Serve application (``<name>.<release id>``, no HTTP route);
the router application ``<name>`` owns the route ``/<name>`` and the gRPC application name.
Its routes live in the deployment's ``user_config``:

    {"generation": 7,
     "routes": [{"release_id": "r-…", "app": "churn.r-…", "weight": 90}, …],
     "sticky_key": "customer_id" | null,
     "shadow": {"release_id": "r-…", "app": "churn.r-…"} | null}

Ray Serve applies a changed ``user_config`` by calling :meth:`FerryRouter.reconfigure` on
the running replicas: weights change without restarting anything.

- Weighted split: each request draws uniformly; with ``sticky_key`` the value of that
  column in the request's first row is hashed instead, so one entity always meets one
  release while the split holds (send one entity per request for strict stickiness).
- The release with the most traffic is also loaded *inside* each router replica (in a
  background thread, after each reconfigure that changes it) and answered there without
  a second hop; until it is loaded, its requests go to its own application. The other
  releases are always reached through deployment handles.
- Shadow: the shadow release gets a copy of each predict request after the answer is
  chosen; its answer is compared with the one returned and counted in the ``ShadowLog``
  actor, never returned.

The router is the first hop after HAProxy, so it refuses what must never be forwarded
(``_ingress``: bodies and messages over ``max_body_bytes``, unknown encodings, gRPC calls
without ``application`` metadata, bytes that are not a ``PredictRequest``) before choosing
a release. Each request passes :meth:`FerryRouter._admit_rest` / ``_admit_grpc`` first:
that is where a further check (e.g. credentials) belongs. Errors are the contract's tree;
a release that does not answer is ``release_unavailable`` (503, retry), one that fails on
the request is its own error (never "retry").

The Open Inference Protocol (KServe V2) takes the same road: REST paths under
``/<name>/v2/...`` (errors in V2's ``{"error": "..."}`` shape) and the RPCs of
``inference.GRPCInferenceService`` pass the same checks here; the server's liveness and
readiness are answered here (no token, like ``/healthz``), the model's metadata,
readiness and inference by the chosen release (``serving/_v2.py`` maps the tensors).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import threading
from typing import Any

from ferry_contract import (
    GRPC_ERROR_CODE_KEY,
    RELEASE_HEADER,
    REQUEST_ID_HEADER,
    FerryError,
    NoRelease,
    ReleaseUnavailable,
    Unauthenticated,
)
from ferry_platform.serving import _ingress, _v2
from ferry_platform.serving._auth import TokenCheck
from ferry_platform.serving._monitor import Context, RouterMonitor
from ferry_platform.serving._names import NAMESPACE, RELEASE_DEPLOYMENT, SHADOW_LOG

log = logging.getLogger("ferry.router")

MAX_SHADOW_IN_FLIGHT = 256
"""Shadow copies in flight per router replica; beyond it copies are skipped, not queued."""


def bucket(value: Any) -> float:
    """A stable position in [0, 100) for an entity key value."""
    digest = hashlib.blake2b(str(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100


def pick(routes: list[tuple[float, str, str]], position: float) -> tuple[str, str]:
    """The (release id, app) whose cumulative weight covers ``position`` in [0, 100)."""
    for upper, release_id, app in routes:
        if position < upper:
            return release_id, app
    return routes[-1][1], routes[-1][2]


def same_answer(a: Any, b: Any) -> bool:
    """Equal predictions; numbers within a relative 1e-6."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_answer(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)


class ShadowLog:
    """Counts and samples of shadow comparisons, per deployment (one named Ray actor)."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, Any]] = {}

    def record(self, name: str, primary: str, shadow: str, agreed: bool | None,
               sample: dict[str, Any] | None) -> None:
        entry = self._by_name.setdefault(name, {
            "primary_releases": {}, "shadow_release": shadow, "requests": 0, "agreed": 0,
            "disagreed": 0, "shadow_errors": 0, "samples": []})
        if entry["shadow_release"] != shadow:  # a new shadow: start counting again
            self._by_name.pop(name)
            return self.record(name, primary, shadow, agreed, sample)
        entry["requests"] += 1
        entry["primary_releases"][primary] = entry["primary_releases"].get(primary, 0) + 1
        if agreed is None:
            entry["shadow_errors"] += 1
        elif agreed:
            entry["agreed"] += 1
        else:
            entry["disagreed"] += 1
        if sample is not None and len(entry["samples"]) < 20:
            entry["samples"].append(sample)
        return None

    def report(self, name: str) -> dict[str, Any] | None:
        return self._by_name.get(name)

    def reset(self, name: str) -> None:
        self._by_name.pop(name, None)


class FerryRouter:
    """The Serve deployment class of every deployment's ingress (decorated by the runtime)."""

    def __init__(self, name: str, max_body_bytes: int | None = None) -> None:
        self.name = name
        self.max_body_bytes = int(max_body_bytes or _ingress.DEFAULT_MAX_BODY_BYTES)
        self.generation = -1
        self._routes: list[tuple[float, str, str]] = []
        self._sticky: str | None = None
        self._shadow: tuple[str, str] | None = None
        self._handles: dict[str, Any] = {}
        self._shadow_log: Any = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._local: tuple[str, Any] | None = None  # (release id, FerryReplica) in-process
        # Autoscaled: the local release answers on one thread of its own, so the event loop
        # keeps taking requests and Serve's count of ongoing requests (what its autoscaler
        # reads) is the real queue, not the 0 or 1 a loop busy with predict shows.
        self._offload = False
        self._pool: Any = None
        self._loading: str | None = None
        self._auth = TokenCheck()  # who may predict: pushed in the user_config
        self._monitor = RouterMonitor(name)  # request ids, arms, service metrics

    def reconfigure(self, config: dict[str, Any]) -> None:
        routes, total = [], 0.0
        for r in config.get("routes", []):
            if r["weight"] > 0:
                total += float(r["weight"])
                routes.append((total, r["release_id"], r["app"]))
        if routes:
            scale = 100.0 / total
            routes = [(upper * scale, rid, app) for upper, rid, app in routes]
        shadow = config.get("shadow")
        self._auth.configure(config.get("access"))
        self._monitor.configure(config)
        self._routes = routes
        self._sticky = config.get("sticky_key")
        self._shadow = (shadow["release_id"], shadow["app"]) if shadow else None
        self.generation = int(config.get("generation", 0))
        self._offload = bool(config.get("offload"))
        local = config.get("local") or {}
        wanted = local.get("release_id")
        if self._local is not None and self._local[0] != wanted:
            self._local = None  # its requests go through the handle until the new one loads
        if wanted and local.get("spec") and self._loading != wanted and \
                (self._local is None or self._local[0] != wanted):
            self._loading = wanted
            threading.Thread(target=self._load_local, args=(wanted, local["spec"]),
                             name=f"ferry-load-{wanted}", daemon=True).start()

    def _load_local(self, release_id: str, spec: dict[str, Any]) -> None:
        try:
            from ferry_platform.serving._replica import FerryReplica

            replica = FerryReplica(spec)
        except Exception as e:  # noqa: BLE001 - the handle path keeps serving it
            log.warning("%s: could not load %s in the router: %s", self.name, release_id, e)
            if self._loading == release_id:
                self._loading = None
            return
        if self._loading == release_id:  # still the one wanted
            self._local = (release_id, replica)
            self._loading = None

    async def _rest(self, release_id: str, app: str, method: str, path: str,
                    body: bytes, ctx: Context | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        local = self._local
        if local is not None and local[0] == release_id:
            if self._offload:
                return await self._off_loop(local[1].answer, method, path, body, ctx, headers)  # type: ignore[no-any-return]
            return await local[1].handle(method, path, body, ctx, headers)  # type: ignore[no-any-return]
        if headers:
            return await self._handle(app).handle.remote(method, path, body, ctx, headers)  # type: ignore[no-any-return]
        return await self._handle(app).handle.remote(method, path, body, ctx)  # type: ignore[no-any-return]

    async def _off_loop(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the router's one predict thread."""
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="ferry-predict")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def local_release(self) -> str | None:
        """The release this router replica answers in-process (None: all via handles)."""
        return self._local[0] if self._local else None

    def config_generation(self) -> int:
        return self.generation

    def _handle(self, app: str) -> Any:
        handle = self._handles.get(app)
        if handle is None:
            from ray import serve

            # By deployment id: no blocking lookup of the app's ingress in this event loop.
            handle = self._handles[app] = serve.get_deployment_handle(RELEASE_DEPLOYMENT, app)
        return handle

    def _choose(self, key_value: Any = None) -> tuple[str, str]:
        position = bucket(key_value) if key_value is not None else random.random() * 100
        return pick(self._routes, position)

    def _sticky_value(self, body: bytes) -> Any:
        if self._sticky is None:
            return None
        try:
            rows = json.loads(body).get("inputs")
            first = rows[0] if isinstance(rows, list) else rows
            return first.get(self._sticky) if isinstance(first, dict) else None
        except (ValueError, AttributeError, IndexError, TypeError, RecursionError):
            return None  # the release answers the malformed request with a 400

    # -- REST ---------------------------------------------------------------------------
    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        rid, started = self._monitor.begin(request.headers.get)
        path = request.url.path
        v2 = _v2.is_v2(path)
        try:
            route = _v2.route_of(path, f"/{self.name}") if v2 else None
            body = await self._admit_rest(request, route)
            if route is not None and route.kind in ("live", "ready", "server"):
                return self._v2_server(route.kind, rid)
            if route is not None:
                _v2.check_model(route.model, self.name)
        except FerryError as e:
            self._monitor.done("", e.status, started, e.code)
            return Response(_v2.error_json(e) if v2 else e.to_json(), status_code=e.status,
                            media_type="application/json",
                            headers={"www-authenticate": "Bearer", REQUEST_ID_HEADER: rid}
                            if e.status == 401 else {REQUEST_ID_HEADER: rid})
        if not self._routes:
            err = self._no_release()
            self._monitor.done("", err.status, started, err.code)
            return Response(_v2.error_json(err) if v2 else err.to_json(), status_code=err.status,
                            media_type="application/json", headers={REQUEST_ID_HEADER: rid})
        release_id, app = self._choose(self._sticky_value(body) if body and not v2 else None)
        ctx = self._monitor.context(rid, release_id)
        binary = request.headers.get(_v2.BINARY_HEADER) if v2 else None
        try:
            status, payload, served = await self._rest(
                release_id, app, request.method, path, body, ctx,
                {_v2.BINARY_HEADER: binary} if binary is not None else None)
        except Exception as e:  # noqa: BLE001 - the release went away or failed
            err = self._unanswered(ctx, release_id, started, e)
            return Response(_v2.error_json(err, release_id) if v2 else
                            err.to_json(release_id=release_id), status_code=err.status,
                            media_type="application/json",
                            headers={RELEASE_HEADER: release_id, REQUEST_ID_HEADER: rid})
        shadow = self._shadow
        if shadow is not None and status == 200 and path.rstrip("/").endswith("predict"):
            if len(self._pending) < MAX_SHADOW_IN_FLIGHT:
                self._spawn(self._mirror(shadow, path, body, payload, served,
                                         self._monitor.context(rid, shadow[0], shadow=True)))
        self._monitor.done(served, status, started, _code_of(payload) if status >= 400 else None)
        return Response(payload, status_code=status, media_type="application/json",
                        headers={RELEASE_HEADER: served, REQUEST_ID_HEADER: rid})

    def _v2_server(self, kind: str, rid: str) -> Any:
        """V2's server-wide routes, answered here: live, ready (a release takes traffic),
        server metadata."""
        from starlette.responses import Response

        status = 200
        if kind == "live":
            body: dict[str, Any] = {"live": True}
        elif kind == "ready":
            body = {"ready": bool(self._routes)}
            if not self._routes:
                status, body["error"] = 503, self._no_release().message
        else:
            body = {"name": "ferry", "version": str(self.generation),
                    "extensions": [], "parameters": {"deployment": self.name}}
        return Response(json.dumps(body).encode(), status_code=status,
                        media_type="application/json", headers={REQUEST_ID_HEADER: rid})

    async def _admit_rest(self, request: Any, route: _v2.Route | None = None) -> bytes:
        """The checks every REST request passes before a release is chosen; its body.

        The token (before anything is read; health probes need none: Ferry's healthz and
        V2's /v2/health/live|ready), then the size from Content-Length before reading and
        while streaming; the encoding."""
        # a V2 path is a probe only as /v2/health/live|ready (".../versions/healthz" reads
        # the model's metadata); Ferry's own probe is the path's healthz leaf
        probe = route.kind in ("live", "ready") if route is not None else \
            request.url.path.rstrip("/").endswith("healthz")
        if not probe:
            refused = self._auth.refusal(request.headers.get("authorization"), self.name)
            if refused is not None:
                raise Unauthenticated(refused)
        if request.method != "POST":
            return b""
        headers = request.headers
        encoding = _ingress.content_encoding(headers)
        _ingress.check_content_length(headers, self.max_body_bytes)
        body = await _ingress.read_limited(request.stream(), self.max_body_bytes)
        return _ingress.decode_body(body, encoding, self.max_body_bytes)

    def _no_release(self) -> FerryError:
        return NoRelease(f"deployment {self.name!r} has no release taking traffic; deploy one "
                         "or finish its rollout")

    def _unanswered(self, ctx: Context, release_id: str, started: float,
                    e: Exception) -> FerryError:
        """The error of a request ``release_id`` never answered, logged and counted."""
        err = self._release_error(release_id, e)
        self._monitor.unanswered(ctx, release_id, started, err)
        self._monitor.done(release_id, err.status, started, err.code)
        return err

    def _release_error(self, release_id: str, e: Exception) -> FerryError:
        """A release that did not answer may be retried; one whose code raised may not."""
        import ray.exceptions

        if isinstance(e, ray.exceptions.RayTaskError):
            log.error("%s: release %s raised on a request: %s", self.name, release_id, e)
            return FerryError(
                f"release {release_id} of {self.name!r} failed on this request "
                f"({type(e).__name__}); its replica's log has the traceback",
                details={"release_id": release_id})
        log.warning("%s: release %s did not answer: %s", self.name, release_id, e)
        return ReleaseUnavailable(
            f"release {release_id} of {self.name!r} did not answer ({type(e).__name__}); "
            "retry", details={"release_id": release_id})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _mirror(self, shadow: tuple[str, str], path: str, body: bytes, answer: bytes,
                      primary: str, ctx: Context | None = None) -> None:
        shadow_id, app = shadow
        agreed: bool | None
        sample = None
        try:
            status, payload, _ = await self._handle(app).handle.remote("POST", path, body, ctx)
            mine = json.loads(answer).get("predictions")
            theirs = json.loads(payload).get("predictions") if status == 200 else None
            agreed = None if status != 200 else same_answer(mine, theirs)
            if not agreed:
                sample = {"primary": mine[:5] if isinstance(mine, list) else mine,
                          "shadow": theirs[:5] if isinstance(theirs, list) else
                          payload[:300].decode(errors="replace"), "status": status}
        except Exception as e:  # noqa: BLE001 - a shadow must never hurt the answer
            agreed, sample = None, {"error": f"{type(e).__name__}: {e}"[:300]}
        try:
            if self._shadow_log is None:
                import ray

                self._shadow_log = ray.get_actor(SHADOW_LOG, namespace=NAMESPACE)
            self._shadow_log.record.remote(self.name, primary, shadow_id, agreed, sample)
        except Exception as e:  # noqa: BLE001
            log.warning("cannot record a shadow comparison of %s: %s", self.name, e)

    # -- gRPC ---------------------------------------------------------------------------
    async def Predict(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802 - RPC name
        """``request`` is the message's bytes (see ``ferry_contract.proto._servicer``)."""
        from ferry_contract.proto import predict_pb2

        rid, started = self._monitor.begin(
            lambda key: dict(grpc_context.invocation_metadata() or ()).get(key))
        try:
            raw, parsed = self._admit_grpc(request, grpc_context)
        except FerryError as e:
            self._monitor.done("", e.status, started, e.code)
            return self._grpc_error(grpc_context, e, request_id=rid)
        if not self._routes:
            err = self._no_release()
            self._monitor.done("", err.status, started, err.code)
            return self._grpc_error(grpc_context, err, request_id=rid)
        key_value = None
        if self._sticky is not None and self._sticky in parsed.columns:
            from ferry_contract.proto import decode_column

            try:
                key_value = (decode_column(parsed.columns[self._sticky]) or [None])[0]
            except FerryError:
                key_value = None  # the release refuses it, naming the column
        release_id, app = self._choose(key_value)
        ctx = self._monitor.context(rid, release_id)
        try:
            local = self._local
            if local is not None and local[0] == release_id:
                status, details, payload, served, code = \
                    await self._off_loop(local[1].grpc_answer, raw, ctx) if self._offload \
                    else await local[1].grpc(raw, ctx)
            else:
                status, details, payload, served, code = await self._handle(app).grpc.remote(
                    raw, ctx)
        except Exception as e:  # noqa: BLE001 - the release went away or failed
            err = self._unanswered(ctx, release_id, started, e)
            return self._grpc_error(grpc_context, err, release_id, rid)
        self._monitor.done(served, _http_status(status, code), started, code)
        trailing = [(RELEASE_HEADER, served), (REQUEST_ID_HEADER, rid)]
        if status is not None:
            import grpc

            grpc_context.set_code(getattr(grpc.StatusCode, status))
            grpc_context.set_details(_ingress.grpc_details(details))
            if code:
                trailing.append((GRPC_ERROR_CODE_KEY, code))
        grpc_context.set_trailing_metadata(trailing)
        return predict_pb2.PredictResponse.FromString(payload)

    # -- gRPC: the Open Inference Protocol (inference.GRPCInferenceService) --------------
    async def ServerLive(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802 - RPC name
        return await self._v2_call("ServerLive", request, grpc_context)

    async def ServerReady(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return await self._v2_call("ServerReady", request, grpc_context)

    async def ServerMetadata(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return await self._v2_call("ServerMetadata", request, grpc_context)

    async def ModelReady(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return await self._v2_call("ModelReady", request, grpc_context)

    async def ModelMetadata(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return await self._v2_call("ModelMetadata", request, grpc_context)

    async def ModelInfer(self, request: Any, grpc_context: Any) -> Any:  # noqa: N802
        return await self._v2_call("ModelInfer", request, grpc_context)

    async def _v2_call(self, rpc: str, request: Any, grpc_context: Any) -> Any:
        """One V2 RPC: the same checks as ``Predict`` (the token, except for the server's
        liveness and readiness; ``application`` metadata; the size), then the server's
        RPCs answered here and the model's by the chosen release."""
        from ferry_contract.proto import APPLICATION_METADATA_KEY
        from ferry_contract.proto import inference_pb2 as v2pb

        response_type = getattr(v2pb, f"{rpc}Response")
        rid, started = self._monitor.begin(
            lambda key: dict(grpc_context.invocation_metadata() or ()).get(key))
        try:
            metadata = grpc_context.invocation_metadata()
            if rpc not in ("ServerLive", "ServerReady"):
                refused = self._auth.refusal(dict(metadata or ()).get("authorization"),
                                             self.name)
                if refused is not None:
                    raise Unauthenticated(refused)
            _ingress.application_of(metadata, self.name, APPLICATION_METADATA_KEY)
            raw = request if isinstance(request, bytes) else request.SerializeToString()
            _ingress.check_message_size(len(raw), self.max_body_bytes)
            _v2.parse_message(v2pb, rpc, raw)
        except FerryError as e:
            self._monitor.done("", e.status, started, e.code)
            self._grpc_error(grpc_context, e, request_id=rid)
            return response_type()
        if rpc == "ServerLive":
            return v2pb.ServerLiveResponse(live=True)
        if rpc == "ServerReady":
            return v2pb.ServerReadyResponse(ready=bool(self._routes))
        if rpc == "ServerMetadata":
            return v2pb.ServerMetadataResponse(name="ferry", version=str(self.generation))
        if not self._routes:
            err = self._no_release()
            self._monitor.done("", err.status, started, err.code)
            self._grpc_error(grpc_context, err, request_id=rid)
            return response_type()
        release_id, app = self._choose()
        ctx = self._monitor.context(rid, release_id)
        try:
            local = self._local
            if local is not None and local[0] == release_id and self._offload:
                status, details, payload, served, code = await self._off_loop(
                    local[1].v2_grpc_answer, rpc, raw, ctx)
            elif local is not None and local[0] == release_id:
                status, details, payload, served, code = await local[1].v2_grpc(rpc, raw, ctx)
            else:
                status, details, payload, served, code = await self._handle(
                    app).v2_grpc.remote(rpc, raw, ctx)
        except Exception as e:  # noqa: BLE001 - the release went away or failed
            err = self._unanswered(ctx, release_id, started, e)
            self._grpc_error(grpc_context, err, release_id, rid)
            return response_type()
        self._monitor.done(served, _http_status(status, code), started, code)
        trailing = [(RELEASE_HEADER, served), (REQUEST_ID_HEADER, rid)]
        if status is not None:
            import grpc

            grpc_context.set_code(getattr(grpc.StatusCode, status))
            grpc_context.set_details(_ingress.grpc_details(details))
            if code:
                trailing.append((GRPC_ERROR_CODE_KEY, code))
        grpc_context.set_trailing_metadata(trailing)
        return response_type.FromString(payload)

    def _admit_grpc(self, request: Any, grpc_context: Any) -> tuple[bytes, Any]:
        """The checks every gRPC call passes before a release is chosen: the token (the
        ``authorization`` metadata), the ``application`` metadata, the size, the bytes parse
        as a ``PredictRequest``."""
        from ferry_contract.proto import APPLICATION_METADATA_KEY, parse_request

        metadata = grpc_context.invocation_metadata()
        refused = self._auth.refusal(dict(metadata or ()).get("authorization"), self.name)
        if refused is not None:
            raise Unauthenticated(refused)
        _ingress.application_of(metadata, self.name, APPLICATION_METADATA_KEY)
        raw = request if isinstance(request, bytes) else request.SerializeToString()
        _ingress.check_message_size(len(raw), self.max_body_bytes)
        return raw, parse_request(raw)

    @staticmethod
    def _grpc_error(grpc_context: Any, e: FerryError, release_id: str | None = None,
                    request_id: str | None = None) -> Any:
        import grpc

        from ferry_contract.proto import predict_pb2

        trailing = [(GRPC_ERROR_CODE_KEY, e.code)]
        if release_id:
            trailing.append((RELEASE_HEADER, release_id))
        if request_id:
            trailing.append((REQUEST_ID_HEADER, request_id))
        grpc_context.set_trailing_metadata(trailing)
        grpc_context.set_code(getattr(grpc.StatusCode, e.grpc_status))
        grpc_context.set_details(_ingress.grpc_details(e.message))
        return predict_pb2.PredictResponse()

    async def check_health(self) -> None:
        """Healthy while its in-process release (if loaded) still predicts."""
        local = self._local
        if local is not None:
            local[1].check_health()


_GRPC_HTTP = {None: 200, "INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
              "NOT_FOUND": 404, "UNIMPLEMENTED": 404, "RESOURCE_EXHAUSTED": 413,
              "INTERNAL": 500, "UNAVAILABLE": 503}


def _http_status(grpc_status: str | None, code: str | None) -> int:
    """The HTTP status the metrics count a gRPC answer under (its error code's)."""
    if code:
        from ferry_contract import error_class_for

        return int(error_class_for(code).status)
    return _GRPC_HTTP.get(grpc_status, 500)


def _code_of(payload: bytes) -> str:
    """The error code of an error answer's body (only read for errors; a V2 body has it
    beside its ``error`` string)."""
    try:
        body = json.loads(payload)
        return str(body["code"] if isinstance(body.get("error"), str) else body["error"]["code"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return "internal"
