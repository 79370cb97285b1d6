"""Where a batched request's time goes inside a replica, measured in process (no Ray).

The serving benchmark's batched variants (benchmarks/serving.py --batch-rows) give the
end-to-end rows/s; this script takes the same model and the same 10,000-row request apart
in one `FerryReplica` built here (the class every Serve replica runs, around a stand-in
service whose `predict_frame` is the fitted model's `predict`, as the Bento's is) and
times each phase of the REST and gRPC paths, against `model.predict` on the same rows:

  REST   JSON parse → rows to columns → validation + DataFrame → predict → JSON answer
  gRPC   message parse + decode → validation + DataFrame → predict → encode answer

Usage: uv run python benchmarks/dataplane_batch.py [--rows 10000] [--repeat 30] [--profile]
(--profile adds cProfile's top frames for each path). No Ray: it needs no lock.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from serving import training_data  # this script's directory is on sys.path
from sklearn.linear_model import LogisticRegression

from ferry_contract import ColumnSpec
from ferry_contract.proto import decode_request, encode_column, encode_request, parse_request
from ferry_platform.core import ReleaseManifest
from ferry_platform.serving._ingress import parse_json
from ferry_platform.serving._replica import FerryReplica, _dumps

console = Console()
SIGNATURE = [ColumnSpec(name="tenure", type="long"), ColumnSpec(name="monthly", type="double"),
             ColumnSpec(name="income", type="double"), ColumnSpec(name="tickets", type="long")]


class Service:
    """What a Bento's service gives the replica: ``predict_frame`` is ``model.predict``."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict_frame(self, frame: Any) -> Any:
        return self.model.predict(frame)

    def example_frame(self) -> Any:
        return None


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30, help="timings per phase (median kept)")
    ap.add_argument("--profile", action="store_true", help="print cProfile's top frames")
    args = ap.parse_args()

    train = training_data()
    model = LogisticRegression(max_iter=1000).fit(train.drop(columns=["churned"]),
                                                  train["churned"])
    manifest = ReleaseManifest(release_id="bench-v1", model="bench", version=1,
                               model_uri="models:/m-1", model_digest="sha256:0",
                               training_data_digest="sha256:1", code_version="git:0",
                               framework="sklearn", signature=SIGNATURE, ferry_version="0",
                               bento_tag="bench:0")
    replica = FerryReplica({"protocol": "auto"}, loaded=(manifest, Service(model)))
    plane = replica.plane

    frame = training_data(args.rows, seed=11).drop(columns=["churned"])
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
               for r in frame.to_dict("records")]
    body = json.dumps({"inputs": records}).encode()
    message = encode_request({c: [r[c] for r in records] for c in frame.columns}
                             ).SerializeToString()
    expected = model.predict(frame).tolist()
    status, answer, _ = asyncio.run(replica.handle("POST", "/bench/predict", body))
    assert status == 200 and json.loads(answer)["predictions"] == expected, answer[:300]
    assert asyncio.run(replica.grpc(message))[0] is None

    parsed = parse_json(body)["inputs"]
    columns = plane.columns_from_records(parsed)
    grpc_columns = decode_request(parse_request(message))
    built = plane.frame(columns)
    predictions = model.predict(built).tolist()
    r = args.repeat
    rest = {
        "JSON parse": median_ms(lambda: parse_json(body), r),
        "rows to columns": median_ms(lambda: plane.columns_from_records(parsed), r),
        "validation + DataFrame": median_ms(lambda: plane.frame(columns), r),
        "predict": median_ms(lambda: model.predict(built), r),
        "JSON answer": median_ms(lambda: _dumps({"predictions": predictions, "release_id": "x"}), r),
    }
    grpc = {
        "message parse + decode": median_ms(lambda: decode_request(parse_request(message)), r),
        "validation + DataFrame": median_ms(lambda: plane.frame(grpc_columns), r),
        "predict": median_ms(lambda: model.predict(built), r),
        "encode answer": median_ms(lambda: encode_column(predictions).SerializeToString(), r),
    }
    totals = {
        "REST": median_ms(lambda: asyncio.run(replica.handle("POST", "/bench/predict", body)), r),
        "gRPC": median_ms(lambda: asyncio.run(replica.grpc(message)), r),
    }
    in_process = median_ms(lambda: model.predict(frame), r)

    table = Table(title=f"one {args.rows:,}-row request inside a replica (median of {r}, ms)")
    for col in ("path", "phase", "ms", "share of the path"):
        table.add_column(col, justify="left" if col in ("path", "phase") else "right")
    for path, phases in (("REST", rest), ("gRPC", grpc)):
        for phase, ms in phases.items():
            table.add_row(path, phase, f"{ms:.2f}", f"{ms / totals[path]:.0%}")
        table.add_row(path, "[b]whole call[/b]", f"[b]{totals[path]:.2f}[/b]",
                      f"{args.rows / totals[path] * 1000:,.0f} rows/s per core")
    table.add_row("in process", "model.predict(frame)", f"{in_process:.2f}",
                  f"{args.rows / in_process * 1000:,.0f} rows/s")
    console.print(table)
    console.print(f"per core, a replica serves {in_process / totals['REST']:.3f}× (REST) and "
                  f"{in_process / totals['gRPC']:.3f}× (gRPC) the rows/s of model.predict in "
                  "process, before any network, HAProxy or Ray Serve cost")
    if args.profile:
        for path, call in (("REST", lambda: replica.handle("POST", "/bench/predict", body)),
                           ("gRPC", lambda: replica.grpc(message))):
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(10):
                asyncio.run(call())
            prof.disable()
            console.print(f"[b]{path}: cProfile, 10 calls, top frames by own time[/b]")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
