"""Server-side registration of ``ferry.v1.Predictor`` for Ray Serve's gRPC servers.

The generated ``add_PredictorServicer_to_server`` decodes each request before any Ferry
code runs, so bytes that are not a ``PredictRequest`` fail inside gRPC and reach the
client as ``UNKNOWN``. Registered through :func:`add_predictor_to_server` instead, the
request arrives as the raw message bytes; the router checks their size and parses them
with :func:`~ferry_contract.proto.parse_request`, which answers ``INVALID_ARGUMENT``
naming the problem. Clients are unaffected: they still send an encoded ``PredictRequest``.
"""

from __future__ import annotations

from typing import Any

from ferry_contract.proto import inference_pb2, predict_pb2

SERVICE = "ferry.v1.Predictor"


def add_predictor_to_server(servicer: Any, server: Any) -> None:
    """Register ``servicer.Predict`` with the request left undecoded (``bytes``)."""
    import grpc

    handlers = {
        "Predict": grpc.unary_unary_rpc_method_handler(
            servicer.Predict,
            request_deserializer=None,
            response_serializer=predict_pb2.PredictResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    add_registered = getattr(server, "add_registered_method_handlers", None)
    if add_registered is not None:
        add_registered(SERVICE, handlers)


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


def add_inference_to_server(servicer: Any, server: Any) -> None:
    """Register the Open Inference Protocol's ``inference.GRPCInferenceService`` the same
    way: each RPC's request arrives as bytes, for the router to check and parse (bad bytes
    are ``INVALID_ARGUMENT``), and reaches the deployment's method of the RPC's name."""
    import grpc

    handlers = {
        rpc: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, rpc), request_deserializer=None, response_serializer=_serialize)
        for rpc in inference_pb2.RPCS
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(inference_pb2.SERVICE, handlers),))
    add_registered = getattr(server, "add_registered_method_handlers", None)
    if add_registered is not None:
        add_registered(inference_pb2.SERVICE, handlers)
