"""Raw gRPC calls (no SDK), to check what any gRPC client sees."""

from __future__ import annotations

from typing import Any

import grpc

from ferry_contract.proto import encode_request, predict_pb2_grpc


def raw_predict(target: str, app: str, columns: dict[str, list[Any]]) -> tuple[Any, dict[str, str]]:
    with grpc.insecure_channel(target) as ch:
        stub = predict_pb2_grpc.PredictorStub(ch)
        resp, call = stub.Predict.with_call(encode_request(columns),
                                            metadata=(("application", app),), timeout=30)
        return resp, dict(call.trailing_metadata())
