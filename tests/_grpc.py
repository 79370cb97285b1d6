"""Raw gRPC calls (no SDK), to check what any gRPC client sees."""

from __future__ import annotations

from typing import Any

import grpc

from ferry_contract.proto import encode_request, predict_pb2_grpc


def raw_predict(target: str, app: str, columns: dict[str, list[Any]],
                token: str | None) -> tuple[Any, dict[str, str]]:
    metadata = [("application", app)]
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    with grpc.insecure_channel(target) as ch:
        stub = predict_pb2_grpc.PredictorStub(ch)
        resp, call = stub.Predict.with_call(encode_request(columns), metadata=metadata,
                                            timeout=30)
        return resp, dict(call.trailing_metadata())
