"""Ferry's gRPC contract (``ferry.v1.Predictor``) and its columnar codec."""

from ferry_contract.proto import predict_pb2, predict_pb2_grpc
from ferry_contract.proto._codec import (
    decode_column,
    decode_request,
    encode_column,
    encode_request,
    parse_request,
)

SERVICER_FUNCTION = "ferry_contract.proto._servicer.add_predictor_to_server"
"""Import path Ray Serve's gRPC servers use to register Ferry's Predictor service (requests
reach the router as bytes, so malformed ones get INVALID_ARGUMENT, not UNKNOWN)."""

INFERENCE_SERVICER_FUNCTION = "ferry_contract.proto._servicer.add_inference_to_server"
"""Import path registering the Open Inference Protocol's ``inference.GRPCInferenceService``
(KServe V2: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer)."""

APPLICATION_METADATA_KEY = "application"
"""gRPC metadata key routing a call to one Serve application (one per deployment name)."""

__all__ = [
    "APPLICATION_METADATA_KEY",
    "INFERENCE_SERVICER_FUNCTION",
    "SERVICER_FUNCTION",
    "decode_column",
    "decode_request",
    "encode_column",
    "encode_request",
    "parse_request",
    "predict_pb2",
    "predict_pb2_grpc",
]
