"""Serving benchmark: Ferry REST and gRPC vs MLServer vs `bentoml serve` vs plain FastAPI.

One run, one machine, the same fitted model (LogisticRegression, or with --model pipeline a
StandardScaler + LogisticRegression pipeline) behind every variant, measured in turn for a
fixed duration by a closed-loop load generator in its own process (benchmarks/_load.py).

Single-row requests from 16 concurrent keep-alive clients:

  ferry-rest            Ferry deployment, 2 replicas, REST through Serve's HAProxy ingress
  ferry-rest-no-token-check  the same with anonymous predictions allowed (the check's cost)
  ferry-grpc            the same deployment over gRPC
  ferry-v2-rest         the same deployment over the Open Inference Protocol (V2) REST,
                        one tensor per column (/bench/v2/models/bench/infer)
  ferry-v2-grpc         the same over V2 gRPC (inference.GRPCInferenceService/ModelInfer)
  mlserver-rest         MLServer 1.7 + mlserver-sklearn (the peer a team would pick), one
                        process, Open Inference Protocol (V2) JSON, numpy input
  mlserver-grpc         the same server over V2 gRPC (ModelInfer), numpy input
  mlserver-*-pandas     the same with one tensor per column and content_type "pd": the
                        model gets a DataFrame, as in Ferry and the plain app
  bentoml               `bentoml serve` of the very Bento Ferry built for that release
  plain-fastapi         one uvicorn worker calling model.predict (the baseline)

Batched requests (--batch-rows 10000, 0 turns them off), from --batch-clients 2 clients:
one request of 10,000 rows per call to Ferry REST and gRPC and the plain app, in rows/s,
against `model.predict` on the same 10,000-row DataFrame in this process (rows/s). Every
server's answers are checked against model.predict before it is measured.

Prints req/s, p50 and p99, errors and the client's CPU per request for every variant, the
ratios (to plain FastAPI, Ferry vs MLServer per protocol, batched vs in process), the time
from deploy() to the first served prediction (Ray already up) and the local platform's
resident memory. MLServer runs from a virtualenv of its own (.bench/mlserver-venv, built
on first use from benchmarks/mlserver/requirements.lock; see _mlserver.py).

With --profile DIR, each Ferry batched variant runs once more (not counted) with py-spy
(`uv tool run py-spy`, from PyPI) sampling the router replicas, and the share of samples
per request phase (JSON parse, rows to columns, validation + DataFrame, predict, encoding,
the rest) and the top frames are printed; benchmarks/dataplane_batch.py takes the same
request apart in process.

The prediction log's cost (monitoring is on by default): after the variants above, the
platform restarts with FERRY_MONITORING=false (its reconcile serves the same release again)
and Ferry REST and gRPC are measured again, then once more with monitoring on. The ratio
on / off uses the mean of the two "on" measurements (one before, one after), so the
machine's drift during the run is not counted as the log's cost. --no-monitoring-compare
skips it; --no-mlserver --batch-rows 0 keeps a run to what this needs.

Usage: uv run python benchmarks/serving.py [--duration 8] [--rounds 1] [--json out.json]
(it starts Ray: on a shared machine run it under `flock /tmp/ferry-ray.lock`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _mlserver  # this script's directory is on sys.path
import httpx
import joblib
import numpy as np
import pandas as pd
import psutil
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ferry
from ferry._local import LocalPlatform

HERE = Path(__file__).resolve().parent
console = Console()
FERRY_PREDICT = "/ferry.v1.Predictor/Predict"


def free_port() -> int:
    """A free loopback port (this run never meets another platform on the machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def training_data(n: int = 5000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(1, 72, n), "monthly": rng.gamma(4, 20, n).round(2),
                       "income": rng.lognormal(10.5, 0.6, n).round(0),
                       "tickets": rng.poisson(1.0, n)})
    logit = -1 - 0.05 * df.tenure + 0.02 * df.monthly + 0.6 * df.tickets
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def process_kind(proc: psutil.Process) -> str:
    """What a platform process is, for the memory breakdown (Ray names its actors' and
    workers' processes ``ray::<class>``)."""
    try:
        cmd = proc.cmdline()
        name = proc.name()
    except psutil.Error:
        return "?"
    title = " ".join(cmd)[:200]
    for key, kind in (("ServeReplica:", "replica"), ("ServeController", "serve controller"),
                      ("ShadowLog", "shadow log"), ("gcs_server", "gcs"), ("raylet", "raylet"),
                      ("dashboard", "dashboard agent"), ("runtime_env", "runtime-env agent"),
                      ("haproxy", "haproxy"), ("HAProxy", "haproxy manager"),
                      ("ProxyActor", "proxy"), ("log_monitor", "log monitor"),
                      ("ferry_server", "control plane"), ("uvicorn", "control plane")):
        if key in title:
            if kind == "replica":
                app = title.split("ServeReplica:", 1)[1].split(":", 1)[0]
                return "router replica" if "." not in app else "release replica"
            return kind
    return "ray worker (idle)" if title.startswith("ray::") else name


def platform_memory(pid: int, home: Path) -> dict[str, Any]:
    """Memory of the local platform: the control plane's process tree plus every process of
    its Ray head's session (Ray, Serve, HAProxy, the replicas), which runs detached from
    the control plane, and their children. ``rss``: resident sets added up (shared pages
    counted in every process that maps them: an upper bound); ``pss``: each shared page
    divided among the processes that map it (what the platform adds to the machine)."""
    from ferry_platform.serving import LocalRayHead
    from ferry_platform.serving._head import session_members

    roots = {pid}
    head = LocalRayHead(home).record()
    if head is not None:
        roots.update(session_members(head.session))
    procs: set[int] = set()
    for p in roots:
        try:
            procs.update([p, *(c.pid for c in psutil.Process(p).children(recursive=True))])
        except psutil.Error:
            pass
    rss = pss = 0
    by_kind: dict[str, list[int]] = {}
    for p in procs:
        try:
            proc = psutil.Process(p)
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        entry = by_kind.setdefault(process_kind(proc), [0, 0])
        entry[0] += 1
        entry[1] += getattr(info, "pss", info.rss)
    breakdown = {k: {"processes": n, "pss_mib": round(b / 2**20)}
                 for k, (n, b) in sorted(by_kind.items(), key=lambda kv: -kv[1][1])}
    return {"processes": len(procs), "rss": rss, "pss": pss, "by_kind": breakdown}


def wait_http(url: str, timeout: float = 120, proc: subprocess.Popen[bytes] | None = None,
              ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not come up")


def grpc_call(target: str, method: str, message: bytes,
              metadata: tuple[tuple[str, str], ...] = ()) -> bytes:
    """One unary call with a serialized message; the serialized answer."""
    import grpc

    limit = 64 * 2**20
    with grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", limit),
                                                ("grpc.max_send_message_length", limit)]) as ch:
        return bytes(ch.unary_unary(method)(message, metadata=metadata, timeout=60))


def ferry_grpc_predictions(answer: bytes) -> list[Any]:
    from ferry_contract.proto import decode_column, predict_pb2

    return decode_column(predict_pb2.PredictResponse.FromString(answer).predictions)


def ferry_v2_message(request: dict[str, Any], model: str) -> bytes:
    """The serialized ``inference.ModelInferRequest`` equal to a V2 JSON ``request`` (typed
    ``contents``, as KServe's client sends; Ferry's messages, no MLServer needed)."""
    from ferry_contract.proto import inference_pb2

    fields = {"FP64": "fp64_contents", "INT64": "int64_contents", "BOOL": "bool_contents",
              "BYTES": "bytes_contents"}
    message = inference_pb2.ModelInferRequest(model_name=model)
    for t in request["inputs"]:
        tensor = message.inputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        values = [v.encode() if isinstance(v, str) else v for v in t["data"]]
        getattr(tensor.contents, fields[t["datatype"]]).extend(values)
    return bytes(message.SerializeToString())


def ferry_v2_predictions(answer: bytes) -> list[Any]:
    """The ``predictions`` output of a serialized ``ModelInferResponse`` (raw contents)."""
    from ferry_contract.proto import inference_pb2

    response = inference_pb2.ModelInferResponse.FromString(answer)
    (i,) = [k for k, o in enumerate(response.outputs) if o.name == "predictions"]
    dtype = {"INT64": "<i8", "FP64": "<f8", "BOOL": "?"}[response.outputs[i].datatype]
    return list(np.frombuffer(response.raw_output_contents[i], dtype=dtype).tolist())


def check(name: str, got: list[Any], expected: list[Any]) -> None:
    if got != expected:
        diff = sum(a != b for a, b in zip(got, expected, strict=False))
        raise SystemExit(f"{name} answered differently from model.predict: {len(got)} answers "
                         f"for {len(expected)} rows, {diff} differ")


def in_process(model: Any, frame: pd.DataFrame, seconds: float) -> dict[str, Any]:
    """``model.predict(frame)`` back to back in this process: the batched baseline."""
    model.predict(frame)
    calls = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        model.predict(frame)
        calls += 1
    return {"calls": calls, "seconds": round(elapsed, 2), "ms_per_call": elapsed / calls * 1000,
            "rows_per_s": calls * len(frame) / elapsed}


PHASES = {  # a function on the stack (file:function) -> the phase of a request it is in
    "_ingress.py:parse_json": "JSON parse",
    "_router.py:_admit_grpc": "message parse + decode",
    "_dataplane.py:columns_from_records": "rows to columns",
    "_codec.py:parse_request": "message parse + decode",
    "_codec.py:decode_request": "message parse + decode",
    "_dataplane.py:frame": "validation + DataFrame",
    ":predict_frame": "predict (the model)",
    "_replica.py:_dumps": "JSON answer",
    "_codec.py:encode_column": "encode answer",
}


REST_OF_IT = [  # where the other samples are, by the innermost frame's package
    ("ray/", "Ray Serve and Ray's worker"), ("grpc/", "gRPC server"),
    ("uvicorn/", "HTTP server"), ("starlette/", "HTTP server"), ("asyncio/", "asyncio"),
    ("pandas/", "pandas"), ("sklearn/", "predict (the model)"),
    ("threading.py", "threads in native code (Ray core, gRPC polling)"),
]


def _phase_key(frame: str) -> tuple[str, str]:
    """py-spy's "Class.function (path/file.py:line)" -> ("file.py:function", ":function")."""
    qualname, _, where = frame.partition(" (")
    name = qualname.rsplit(".", 1)[-1]
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{file}:{name}", f":{name}"


def phase_of(frames: list[str]) -> str:
    """The request phase of one sampled stack (outermost first): the innermost Ferry
    function of ``PHASES`` on it, else the package of its innermost frame."""
    for frame in reversed(frames):
        for key in _phase_key(frame):
            if key in PHASES:
                return PHASES[key]
    for frame in reversed(frames):
        where = frame.partition(" (")[2]
        for marker, phase in REST_OF_IT:
            if marker in where:
                return phase
    return "other"


def summarize_stacks(files: list[Path]) -> dict[str, Any]:
    """Shares of py-spy's raw (collapsed) samples by request phase, and the top frames by
    samples of their own."""
    total = 0
    phases: dict[str, int] = {}
    own: dict[str, int] = {}
    for f in files:
        for line in f.read_text().splitlines() if f.exists() else []:
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            frames = stack.split(";")
            phase = phase_of(frames)
            phases[phase] = phases.get(phase, 0) + n
            leaf = re.sub(r":\d+\)$", ")", frames[-1])
            own[leaf] = own.get(leaf, 0) + n
    if not total:
        return {"samples": 0, "phases": {}, "top_frames": []}
    top = sorted(own.items(), key=lambda kv: -kv[1])[:12]
    return {"samples": total,
            "phases": {k: round(v / total, 3) for k, v in
                       sorted(phases.items(), key=lambda kv: -kv[1])},
            "top_frames": [(k, round(v / total, 3)) for k, v in top]}


def router_pids(home: Path, app: str) -> list[int]:
    """The processes of ``app``'s router replicas (they answer the main release in-process)."""
    from ferry_platform.serving import LocalRayHead
    from ferry_platform.serving._head import session_members

    head = LocalRayHead(home).record()
    pids = []
    for pid in session_members(head.session) if head else []:
        try:
            title = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        if f"ServeReplica:{app}:router" in title:
            pids.append(pid)
    return pids


def profiled(run: Callable[[], dict[str, Any]], pids: list[int], seconds: float, warmup: float,
             out: Path) -> dict[str, Any]:
    """Run ``run`` (a load) while py-spy samples ``pids`` for ``seconds`` after ``warmup``;
    where the replicas' time went: by request phase (a function on the stack), and the
    frames with the most samples of their own."""
    import threading

    spies: list[subprocess.Popen[bytes]] = []
    files = [out.with_name(f"{out.name}-{pid}.txt") for pid in pids]

    def spy() -> None:
        time.sleep(warmup)
        for pid, f in zip(pids, files, strict=True):
            spies.append(subprocess.Popen(
                [_mlserver.uv(), "tool", "run", "py-spy", "record", "--pid", str(pid),
                 "--duration", str(int(seconds)), "--rate", "200", "--nonblocking",
                 "--format", "raw", "--output", str(f)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    thread = threading.Thread(target=spy)
    thread.start()
    figures = run()
    thread.join()
    for s in spies:
        s.wait(60)
    return {"load": figures, "files": [str(f) for f in files], **summarize_stacks(files)}


def load(mode: str, target: str, row: dict[str, Any], args: argparse.Namespace,
         concurrency: int | None = None, **extra: str) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "_load.py"), mode, "--target", target,
           "--row", json.dumps(row), "--concurrency", str(concurrency or args.concurrency),
           "--duration", str(args.duration), "--warmup", str(args.warmup)]
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", v]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed ({' '.join(cmd[2:5])} ...):\n"
                           f"{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def monitoring_cost(args: argparse.Namespace, local: LocalPlatform, env: dict[str, str],
                    row: dict[str, Any], first_on: dict[str, Any],
                    ports: dict[str, str]) -> dict[str, Any]:
    """Ferry REST and gRPC with the prediction log off, then on again (a restart each)."""
    rest = f"127.0.0.1:{ports['FERRY_SERVE_HTTP_PORT']}"
    grpc_target = f"127.0.0.1:{ports['FERRY_SERVE_GRPC_PORT']}"

    def phase(monitoring: bool) -> dict[str, Any]:
        flag = "true" if monitoring else "false"
        with console.status(f"restarting with FERRY_MONITORING={flag}"):
            local.down()
            os.environ["FERRY_MONITORING"] = flag
            local.up(env={**env, "FERRY_MONITORING": flag})
            token = local.admin_token()
            client = ferry.Client(local.url, token=token)
            # Ray restarted with the platform: its start reconciles the recorded deployment
            # (a job), which serves the same release with the new environment.
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                busy = [j for j in client.jobs(target="bench", limit=5) if not j.state.done]
                if not busy and client.status("bench").status == "running":
                    try:
                        client.deployment("bench").predict([row])
                        break
                    except ferry.FerryError:
                        pass
                time.sleep(1)
            else:
                raise RuntimeError("bench did not serve again after the restart")
        out = {}
        for name, run in (("rest", lambda: load("http", rest, row, args,
                                                 path="/bench/predict", token=token)),
                          ("grpc", lambda: load("grpc", grpc_target, row, args, app="bench",
                                                token=token))):
            with console.status(f"monitoring {'on' if monitoring else 'off'}: {name}"):
                out[name] = run()
        return out

    off = phase(False)
    on_again = phase(True)
    os.environ.pop("FERRY_MONITORING", None)
    table = Table(title="the prediction log's cost (same run, same release)")
    for col in ("protocol", "on (before) req/s", "off req/s", "on (after) req/s",
                "on / off", "p99 on / off ms"):
        table.add_column(col, justify="right" if col != "protocol" else "left")
    ratios = {}
    for proto, key in (("rest", "ferry-rest"), ("grpc", "ferry-grpc")):
        on = (first_on[key]["rps"] + on_again[proto]["rps"]) / 2
        ratios[proto] = on / off[proto]["rps"]
        table.add_row(proto, f"{first_on[key]['rps']:.0f}", f"{off[proto]['rps']:.0f}",
                      f"{on_again[proto]['rps']:.0f}", f"{ratios[proto]:.3f}",
                      f"{on_again[proto]['p99_ms']:.1f} / {off[proto]['p99_ms']:.1f}")
    console.print(table)
    console.print(f"with the prediction log on: REST {ratios['rest']:.3f}×, gRPC "
                  f"{ratios['grpc']:.3f}× the throughput with it off (goal: ≥ 0.95×)")
    return {"off": off, "on_after": on_again,
            "on_over_off": {k: round(v, 3) for k, v in ratios.items()}}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda x: x["rps"])[len(runs) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per variant")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="repeat every variant, keep the median")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--model", choices=["logreg", "pipeline"], default="logreg",
                    help="logreg: LogisticRegression (cheap predict, serving overhead shows); "
                         "pipeline: StandardScaler + LogisticRegression (≈ 2x the predict cost)")
    ap.add_argument("--serve-mode", choices=["throughput", "proxy"], default="throughput",
                    help="FERRY_SERVE_MODE of the platform under test")
    ap.add_argument("--batch-rows", type=int, default=10_000,
                    help="rows per batched request (0: no batched variants)")
    ap.add_argument("--batch-clients", type=int, default=2,
                    help="concurrent clients sending batched requests")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="after the measured rounds, run each Ferry batched variant once more "
                         "with py-spy on the router replicas; raw stacks go to DIR")
    ap.add_argument("--mlserver-workers", type=int, default=0,
                    help="MLServer's parallel_workers (0, the default: inference in its one "
                         "process, its fastest setting here)")
    ap.add_argument("--no-mlserver", action="store_true",
                    help="leave MLServer out (its virtualenv is built on first use)")
    ap.add_argument("--no-monitoring-compare", dest="monitoring_compare", action="store_false",
                    help="skip measuring the prediction log's cost (two platform restarts)")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    ports = {k: str(free_port()) for k in (
        "FERRY_PORT", "FERRY_SERVE_HTTP_PORT", "FERRY_SERVE_GRPC_PORT",
        "FERRY_SERVE_HAPROXY_STATS_PORT", "FERRY_SERVE_HAPROXY_METRICS_PORT")}
    bento_port, plain_port = free_port(), free_port()
    mls = {"http": free_port(), "grpc": free_port(), "metrics": free_port()}
    env = {**ports, "FERRY_HOME": str(home), "FERRY_SERVE_MODE": args.serve_mode}
    os.environ.update(env)
    url = f"http://127.0.0.1:{ports['FERRY_PORT']}"
    local = LocalPlatform(home, url)
    procs: list[subprocess.Popen[bytes]] = []
    figures: dict[str, Any] = {
        "serve_mode": args.serve_mode, "model": args.model, "duration_s": args.duration,
        "concurrency": args.concurrency, "replicas": args.replicas, "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}}
    try:
        mls_python = None
        if not args.no_mlserver:
            with console.status("MLServer's virtualenv (.bench/mlserver-venv)"):
                mls_python = _mlserver.ensure_venv()
        t0 = time.monotonic()
        with console.status("starting the local platform"):
            pid = local.up(env=env)
        figures["platform_start_s"] = round(time.monotonic() - t0, 1)
        token = local.admin_token()
        client = ferry.Client(url, token=token)
        train = training_data()
        X = train.drop(columns=["churned"])
        estimator = LogisticRegression(max_iter=1000)
        model = (make_pipeline(StandardScaler(), estimator) if args.model == "pipeline"
                 else estimator).fit(X, train["churned"])
        mv = client.register(model, name="bench", training_data=train, target="churned")
        row = {k: (v.item() if hasattr(v, "item") else v)
               for k, v in X.head(1).to_dict("records")[0].items()}
        expected_row = model.predict(pd.DataFrame([row])).tolist()

        with console.status(f"deploying with {args.replicas} replicas"):
            t1 = time.monotonic()
            dep = client.deploy("bench", version=mv.version, replicas=args.replicas)
            first = dep.predict([row], protocol="rest")
            figures["deploy_to_first_prediction_s"] = round(time.monotonic() - t1, 1)
        check("ferry-rest", list(first.predictions), expected_row)
        memory = platform_memory(pid, home)
        figures["platform_rss_mib"] = round(memory["rss"] / 2**20)
        figures["platform_pss_mib"] = round(memory["pss"] / 2**20)
        figures["platform_processes"] = memory["processes"]
        figures["platform_pss_by_kind"] = memory["by_kind"]
        console.print(f"PSS by process kind: {memory['by_kind']}")

        # Baselines and the peer, all serving the same fitted model.
        bento_env = {**os.environ, "BENTOML_HOME": str(home / "bentoml"),
                     "BENTOML_DO_NOT_TRACK": "True"}
        bentoml_exe = str(Path(sys.executable).with_name("bentoml"))
        bento = subprocess.Popen(
            [bentoml_exe, "serve", dep.info.release.bento_tag, "--port", str(bento_port),
             "--host", "127.0.0.1"], env=bento_env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        procs.append(bento)
        model_file = home / "model.joblib"
        joblib.dump(model, model_file)
        plain = subprocess.Popen([sys.executable, str(HERE / "_plain_app.py"), str(model_file),
                                  str(plain_port)])
        procs.append(plain)
        mlserver = None
        if mls_python is not None:
            repo = _mlserver.write_repository(home / "mlserver", model_file, "bench",
                                              mls["http"], mls["grpc"], mls["metrics"],
                                              args.mlserver_workers)
            figures["mlserver_workers"] = args.mlserver_workers
            mlserver = _mlserver.start(repo, home / "logs" / "mlserver.log")
            procs.append(mlserver)
        with console.status("starting bentoml serve, the plain FastAPI app and MLServer"):
            wait_http(f"http://127.0.0.1:{bento_port}/readyz", proc=bento)
            wait_http(f"http://127.0.0.1:{plain_port}/docs", proc=plain)
            if mlserver is not None:
                wait_http(f"http://127.0.0.1:{mls['http']}/v2/models/bench/ready", proc=mlserver)

        rest = f"127.0.0.1:{ports['FERRY_SERVE_HTTP_PORT']}"
        grpc_target = f"127.0.0.1:{ports['FERRY_SERVE_GRPC_PORT']}"
        auth = (("application", "bench"), ("authorization", f"Bearer {token}"))
        bodies = home / "bodies"
        bodies.mkdir()

        def body_file(name: str, data: bytes) -> str:
            path = bodies / name
            path.write_bytes(data)
            return str(path)

        def answered_without_token(allowed: bool, timeout: float = 60) -> dict[str, Any]:
            """After the API call returned: how many requests without a token (each on a
            connection of its own, so spread over the router replicas) were still answered
            the old way, and the seconds until 20 in a row were answered as ``allowed``
            says (200, or 401)."""
            t0, in_a_row, old_way = time.monotonic(), 0, 0
            while in_a_row < 20:
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError(f"anonymous predictions not {allowed=} after {timeout}s")
                status = httpx.post(f"http://{rest}/bench/predict", json={"inputs": [row]},
                                    timeout=10).status_code
                if (status == 200) == allowed:
                    in_a_row += 1
                else:
                    in_a_row, old_way = 0, old_way + 1
            return {"allowed": allowed, "answered_the_old_way": old_way,
                    "seconds": round(time.monotonic() - t0, 2)}

        def anonymous() -> dict[str, Any]:
            """The same deployment with the token check off (what the check costs). The
            API call is meant to return once every router replica has the change; what
            requests see right after it is recorded too."""
            client.set_anonymous_predict("bench", True)
            switches = figures.setdefault("anonymous_switch", [])
            try:
                switches.append(answered_without_token(True))
                return load("http", rest, row, args, path="/bench/predict")
            finally:
                client.set_anonymous_predict("bench", False)
                switches.append(answered_without_token(False))

        variants: dict[str, Callable[[], dict[str, Any]]] = {
            "ferry-rest": lambda: load("http", rest, row, args, path="/bench/predict",
                                       token=token),
            "ferry-rest-no-token-check": anonymous,
            "ferry-grpc": lambda: load("grpc", grpc_target, row, args, app="bench", token=token),
        }
        # The Open Inference Protocol on the same deployment: one tensor per column.
        v2_request = {"inputs": _mlserver.v2_request(pd.DataFrame([row]), "pandas")["inputs"]}
        v2_body, v2_message = json.dumps(v2_request).encode(), ferry_v2_message(v2_request, "bench")
        v2_path, v2_method = "/bench/v2/models/bench/infer", "/inference.GRPCInferenceService/ModelInfer"
        check("ferry-v2-rest", httpx.post(f"http://{rest}{v2_path}", content=v2_body, timeout=30,
                                          headers={"authorization": f"Bearer {token}"}
                                          ).json()["outputs"][0]["data"], expected_row)
        check("ferry-v2-grpc", ferry_v2_predictions(grpc_call(grpc_target, v2_method, v2_message,
                                                              auth)), expected_row)
        v2_rest_file = body_file("ferry-v2-rest.json", v2_body)
        v2_grpc_file = body_file("ferry-v2-grpc.bin", v2_message)
        variants["ferry-v2-rest"] = lambda: load("http", rest, row, args, path=v2_path,
                                                 body_file=v2_rest_file, token=token)
        variants["ferry-v2-grpc"] = lambda: load("grpc", grpc_target, row, args, app="bench",
                                                 method=v2_method, body_file=v2_grpc_file,
                                                 token=token)
        if mlserver is not None:
            infer = "/v2/models/bench/infer"
            mls_rest, mls_grpc = f"127.0.0.1:{mls['http']}", f"127.0.0.1:{mls['grpc']}"
            one = pd.DataFrame([row])
            for inputs, suffix in (("numpy", ""), ("pandas", "-pandas")):
                request = _mlserver.v2_request(one, inputs)
                rest_body = json.dumps(request).encode()
                message = _mlserver.grpc_message(request, "bench")
                check(f"mlserver-rest{suffix}", _mlserver.predictions(
                    httpx.post(f"http://{mls_rest}{infer}", content=rest_body,
                               headers={"content-type": "application/json"}).json()),
                      expected_row)
                check(f"mlserver-grpc{suffix}", _mlserver.predictions(_mlserver.grpc_answer(
                    grpc_call(mls_grpc, _mlserver.INFER_METHOD, message))), expected_row)
                rest_file = body_file(f"mlserver-rest-{inputs}.json", rest_body)
                grpc_file = body_file(f"mlserver-grpc-{inputs}.bin", message)
                variants[f"mlserver-rest{suffix}"] = (
                    lambda f=rest_file: load("http", mls_rest, row, args, path=infer, body_file=f))
                variants[f"mlserver-grpc{suffix}"] = (
                    lambda f=grpc_file: load("grpc", mls_grpc, row, args,
                                             method=_mlserver.INFER_METHOD, body_file=f))
        variants["bentoml"] = lambda: load("http", f"127.0.0.1:{bento_port}", row, args,
                                           path="/predict")
        variants["plain-fastapi"] = lambda: load("http", f"127.0.0.1:{plain_port}", row, args,
                                                 path="/predict")

        # Batched requests: the same rows for every server and for the in-process baseline.
        batch_variants: dict[str, Callable[[], dict[str, Any]]] = {}
        batch_frame = None
        if args.batch_rows > 0:
            from ferry_contract.proto import encode_request

            batch_frame = training_data(args.batch_rows, seed=11).drop(columns=["churned"])
            records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                       for r in batch_frame.to_dict("records")]
            expected = model.predict(batch_frame).tolist()
            rest_body = json.dumps({"inputs": records}).encode()
            message = encode_request({c: [r[c] for r in records]
                                      for c in batch_frame.columns}).SerializeToString()
            with console.status(f"checking Ferry's answers for {args.batch_rows:,} rows"):
                answer = httpx.post(f"http://{rest}/bench/predict", content=rest_body, timeout=60,
                                    headers={"content-type": "application/json",
                                             "authorization": f"Bearer {token}"})
                answer.raise_for_status()
                check("ferry-rest-batch", answer.json()["predictions"], expected)
                check("ferry-grpc-batch", ferry_grpc_predictions(
                    grpc_call(grpc_target, FERRY_PREDICT, message, auth)), expected)
                answer = httpx.post(f"http://127.0.0.1:{plain_port}/predict", content=rest_body,
                                    timeout=60, headers={"content-type": "application/json"})
                check("plain-fastapi-batch", answer.json()["predictions"], expected)
            rest_file = body_file("batch.json", rest_body)
            grpc_file = body_file("batch.bin", message)
            clients = args.batch_clients
            figures["batch_request_bytes"] = {"rest": len(rest_body), "grpc": len(message)}
            batch_variants = {
                "ferry-rest-batch": lambda: load("http", rest, row, args, clients,
                                                 path="/bench/predict", token=token,
                                                 body_file=rest_file),
                "ferry-grpc-batch": lambda: load("grpc", grpc_target, row, args, clients,
                                                 app="bench", token=token, body_file=grpc_file),
                "plain-fastapi-batch": lambda: load("http", f"127.0.0.1:{plain_port}", row,
                                                    args, clients, path="/predict",
                                                    body_file=rest_file),
            }

        results: dict[str, list[dict[str, Any]]] = {k: [] for k in [*variants, *batch_variants]}
        baseline_runs: list[dict[str, Any]] = []
        for r in range(args.rounds):
            for name, run in variants.items():
                with console.status(f"round {r + 1}/{args.rounds}: {name} "
                                    f"({args.concurrency} clients, {args.duration:.0f}s)"):
                    results[name].append(run())
            for name, run in batch_variants.items():
                with console.status(f"round {r + 1}/{args.rounds}: {name} ({args.batch_clients} "
                                    f"clients x {args.batch_rows:,} rows, {args.duration:.0f}s)"):
                    results[name].append(run())
            if batch_frame is not None:
                with console.status(f"round {r + 1}/{args.rounds}: model.predict in process"):
                    baseline_runs.append(in_process(model, batch_frame, min(args.duration, 3.0)))
        if args.profile and batch_variants:
            args.profile.mkdir(parents=True, exist_ok=True)
            pids = router_pids(home, "bench")
            figures["profile"] = {}
            for name in ("ferry-rest-batch", "ferry-grpc-batch"):
                with console.status(f"profiling the router replicas {pids} under {name}"):
                    figures["profile"][name] = profiled(batch_variants[name], pids,
                                                        args.duration, args.warmup,
                                                        args.profile / name)
        median = {k: median_of(v) for k, v in results.items()}
        single = {k: median[k] for k in variants}
        figures["variants"] = single
        base = single["plain-fastapi"]["rps"]
        table = Table(title=f"single-row predict, {args.concurrency} clients, "
                            f"{args.duration:.0f}s per variant, {args.replicas} Ferry replicas, "
                            f"serve mode {args.serve_mode}, model {args.model}")
        for col in ("variant", "req/s", "p50 ms", "p99 ms", "errors", "× plain FastAPI",
                    "client CPU µs/req"):
            table.add_column(col, justify="right" if col != "variant" else "left")
        for name, m in single.items():
            table.add_row(name, f"{m['rps']:.0f}", f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}",
                          str(m["errors"]), f"{m['rps'] / base:.2f}", f"{m['client_cpu_us']:.0f}")
        console.print(table)

        def ratio(a: str, b: str) -> float | None:
            if a in single and b in single and single[b]["rps"]:
                return float(single[a]["rps"] / single[b]["rps"])
            return None

        ratios: dict[str, float | None] = {
            "rest_vs_plain": ratio("ferry-rest", "plain-fastapi"),
            "rest_vs_bentoml": ratio("ferry-rest", "bentoml"),
            "grpc_vs_rest": ratio("ferry-grpc", "ferry-rest"),
            "token_check_cost": 1 - (ratio("ferry-rest", "ferry-rest-no-token-check") or 1),
            "rest_vs_mlserver": ratio("ferry-rest", "mlserver-rest"),
            "grpc_vs_mlserver": ratio("ferry-grpc", "mlserver-grpc"),
            "rest_vs_mlserver_pandas": ratio("ferry-rest", "mlserver-rest-pandas"),
            "grpc_vs_mlserver_pandas": ratio("ferry-grpc", "mlserver-grpc-pandas"),
        }
        console.print(f"Ferry REST = {ratios['rest_vs_plain']:.2f}× plain FastAPI, "
                      f"{ratios['rest_vs_bentoml']:.2f}× bentoml serve; "
                      f"gRPC = {ratios['grpc_vs_rest']:.2f}× REST; the data plane's token "
                      f"check costs {100 * (ratios['token_check_cost'] or 0):.1f}% of REST "
                      "throughput")
        if mlserver is not None:
            console.print(
                f"Ferry vs MLServer (numpy input): REST {ratios['rest_vs_mlserver']:.2f}×, "
                f"gRPC {ratios['grpc_vs_mlserver']:.2f}×; vs MLServer with DataFrame input "
                f"(content_type pd): REST {ratios['rest_vs_mlserver_pandas']:.2f}×, "
                f"gRPC {ratios['grpc_vs_mlserver_pandas']:.2f}×  (goal: > 1 on both protocols)")

        if batch_variants and baseline_runs:
            in_proc = sorted(baseline_runs, key=lambda x: x["rows_per_s"])[len(baseline_runs) // 2]
            rows = args.batch_rows
            batch: dict[str, Any] = {"rows": rows, "clients": args.batch_clients,
                                     "in_process": in_proc, "variants": {}}
            btable = Table(title=f"batched predict: {rows:,} rows per request, "
                                 f"{args.batch_clients} clients, {args.duration:.0f}s per variant")
            for col in ("variant", "req/s", "rows/s", "p50 ms", "p99 ms", "errors",
                        "× in-process predict"):
                btable.add_column(col, justify="right" if col != "variant" else "left")
            for name in batch_variants:
                m = dict(median[name], rows_per_s=median[name]["rps"] * rows)
                m["vs_in_process"] = m["rows_per_s"] / in_proc["rows_per_s"]
                batch["variants"][name] = m
                btable.add_row(name, f"{m['rps']:.1f}", f"{m['rows_per_s']:,.0f}",
                               f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", str(m["errors"]),
                               f"{m['vs_in_process']:.3f}")
            btable.add_row("model.predict in process", f"{1000 / in_proc['ms_per_call']:.1f}",
                           f"{in_proc['rows_per_s']:,.0f}", f"{in_proc['ms_per_call']:.1f}", "",
                           "", "1.000")
            console.print(btable)
            figures["batch"] = batch
            ratios["rest_batch_vs_in_process"] = batch["variants"]["ferry-rest-batch"]["vs_in_process"]
            ratios["grpc_batch_vs_in_process"] = batch["variants"]["ferry-grpc-batch"]["vs_in_process"]
            console.print(f"{rows:,}-row requests: Ferry REST {ratios['rest_batch_vs_in_process']:.3f}×,"
                          f" gRPC {ratios['grpc_batch_vs_in_process']:.3f}× the rows/s of "
                          "model.predict in process (goal: ≥ 0.5×)")
        for name, prof in figures.get("profile", {}).items():
            console.print(f"[b]{name}: where the router replicas' samples went[/b] "
                          f"({prof['samples']:,} py-spy samples; under profiling "
                          f"{prof['load']['rps'] * args.batch_rows:,.0f} rows/s)")
            for phase, share in prof["phases"].items():
                console.print(f"  {share:6.1%}  {phase}")
            console.print("  top frames by own samples:")
            for frame, share in prof["top_frames"]:
                console.print(f"  {share:6.1%}  {frame}")
        figures["ratios"] = {k: (round(v, 3) if v is not None else None) for k, v in ratios.items()}
        console.print(f"deploy() to first prediction (Ray up): "
                      f"{figures['deploy_to_first_prediction_s']} s; local platform start: "
                      f"{figures['platform_start_s']} s; memory of the local platform with "
                      f"{args.replicas} replicas ({figures['platform_processes']} processes): "
                      f"{figures['platform_rss_mib']} MiB resident (RSS added up), "
                      f"{figures['platform_pss_mib']} MiB proportional (PSS)")
        if args.monitoring_compare:
            figures["monitoring"] = monitoring_cost(args, local, env, row, median, ports)
            client = ferry.Client(url, token=local.admin_token())
        figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        client.undeploy("bench")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        with console.status("stopping the local platform"):
            local.down()


if __name__ == "__main__":
    sys.exit(main())
