from __future__ import annotations

from pathlib import Path

import numpy as np

from ferry_contract.proto import decode_request, encode_request
from ferry_contract.proto.generate import HERE, generated_text


def test_round_trip_of_typed_columns_with_nulls() -> None:
    cols = {"d": [1.5, None, float("nan")], "i": [1, 2, None], "s": ["a", None, "c"],
            "b": [True, False, None], "n": [np.int64(4), np.float64(2.5), 1]}
    back = decode_request(encode_request(cols))
    assert back["d"][0] == 1.5 and back["d"][1] is None and back["d"][2] is None
    assert back["i"] == [1, 2, None]
    assert back["s"] == ["a", None, "c"]
    assert back["b"] == [True, False, None]
    assert back["n"] == [4.0, 2.5, 1.0]  # ints mixed with floats travel as doubles


def test_mixed_types_travel_as_strings_so_the_server_can_name_them() -> None:
    back = decode_request(encode_request({"x": [1, "two"]}))
    assert back["x"] == ["1", "two"]


def test_generated_grpc_code_matches_the_proto() -> None:
    for name, text in generated_text().items():
        committed = (Path(HERE) / name).read_text()
        assert committed == text, f"{name} is stale: run `make proto`"
