"""Ferry's gRPC contract (``ferry.v1.Predictor``) and its columnar codec."""

from ferry_contract.proto import predict_pb2, predict_pb2_grpc
from ferry_contract.proto._codec import decode_column, decode_request, encode_column, encode_request

SERVICER_FUNCTION = "ferry_contract.proto.predict_pb2_grpc.add_PredictorServicer_to_server"
"""Import path Ray Serve's gRPC server uses to register Ferry's Predictor service."""

APPLICATION_METADATA_KEY = "application"
"""gRPC metadata key routing a call to one Serve application (one per deployment name)."""

__all__ = [
    "APPLICATION_METADATA_KEY",
    "SERVICER_FUNCTION",
    "decode_column",
    "decode_request",
    "encode_column",
    "encode_request",
    "predict_pb2",
    "predict_pb2_grpc",
]
