"""Run by MLServer's own interpreter (``.bench/mlserver-venv``), not Ferry's.

Translates between the Open Inference Protocol's JSON form and its gRPC messages with the
stubs and converters MLServer ships (``mlserver.grpc``), so the benchmark copies no
third-party proto file and its gRPC request is exactly the REST body it sends:

    python v2_grpc.py encode MODEL < request.json > request.bin   # a ModelInferRequest
    python v2_grpc.py decode < response.bin > response.json       # a ModelInferResponse
"""

from __future__ import annotations

import sys

from mlserver.grpc import dataplane_pb2
from mlserver.grpc.converters import ModelInferRequestConverter, ModelInferResponseConverter
from mlserver.types import InferenceRequest


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    data = sys.stdin.buffer.read()
    if command == "encode" and len(sys.argv) == 3:
        request = InferenceRequest.model_validate_json(data)
        message = ModelInferRequestConverter.from_types(request, model_name=sys.argv[2])
        sys.stdout.buffer.write(message.SerializeToString())
        return 0
    if command == "decode":
        response = dataplane_pb2.ModelInferResponse.FromString(data)
        sys.stdout.write(ModelInferResponseConverter.to_types(response).model_dump_json())
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main())
