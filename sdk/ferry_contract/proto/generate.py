"""Regenerate the gRPC Python code from ``predict.proto``.

Run ``uv run python -m ferry_contract.proto.generate``. The generated modules
are committed so that installing Ferry needs no protoc; a unit test checks
they match the ``.proto``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SDK_ROOT = HERE.parent.parent
PROTO = HERE / "predict.proto"
GENERATED = ("predict_pb2.py", "predict_pb2.pyi", "predict_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    """Run grpcio-tools' protoc on ``predict.proto`` into ``out_dir``."""
    from grpc_tools import protoc  # dev dependency, imported only here

    args = [
        "protoc",
        f"-I{SDK_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO.relative_to(SDK_ROOT)),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")


def generated_text() -> dict[str, str]:
    """Return freshly generated module texts, keyed by file name."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        base = Path(tmp) / "ferry_contract" / "proto"
        return {name: (base / name).read_text() for name in GENERATED}


def main() -> int:
    for name, text in generated_text().items():
        (HERE / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
