"""Every measurement of issues 5 and 11 side by side, in one run: prints a table, writes
bench/results/results.json.

    .venv/bin/python bench/run.py            # full run, about 25 minutes on 2 quiet cores
    .venv/bin/python bench/run.py --quick    # fewer calls and rounds
    .venv/bin/python bench/run.py --quick --only backends contention generation kernels   # issue 11's

Each section starts its contenders first, then lets them take turns for several rounds and reports
medians (latency: percentiles over the pooled samples), each beside a floor measured in the same run.
Sections: latency (no-op round trips, including the C# host and pythonnet when they build), pipelined
(calls/s with 1, 8, 64 in flight), tensors (bulk put/get vs raw pipe), coldstart, embeddings (with
memory; ONNX Runtime exported at bench time; pythonnet), isolation (a native crash in Python code, in
the .NET process with pythonnet and in a worker under the C# pool); issue 11's: backends (the
worker's default settings, float32, ONNX Runtime backend float32 and int8 against ONNX Runtime
in-process on the same graph files, for all-MiniLM-L6-v2 and a distilbert-base-shaped classifier),
contention (one core kept busy by another process), generation (GPT-2-small-shaped tokens/s) and
kernels (torch's float32 matrix products against ONNX Runtime's, and torch.compile against eager).
The worker's thread settings (``worker/info`` compute) are printed with each of these.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

# The in-process torch contenders run with the worker's own thread settings (worker.models.threads), set
# before torch is imported: with OpenMP's default spinning, this process's idle pool threads took a core
# from whichever contender ran next on a busy machine (in-process batch-1 measured 2 sentences/s).
_WORKER_SETTINGS = {"OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false"}
_SET_HERE = [name for name in _WORKER_SETTINGS if name not in os.environ]
os.environ.update({name: _WORKER_SETTINGS[name] for name in _SET_HERE})

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.suite import (  # noqa: E402
    backends,
    coldstart,
    contention,
    dotnet,
    embeddings,
    generation,
    isolation,
    kernels,
    latency,
    pythonnet,
    tensors,
)
from bench.suite.report import check_targets, render  # noqa: E402
from bench.suite.worker_client import NOT_INHERITED  # noqa: E402

# ...but the workers choose their own (they report "worker" as the source in worker/info).
NOT_INHERITED.update(_SET_HERE)

# How much each section does, full run and --quick.
PROFILES: dict[str, dict[str, int]] = {
    "full": {
        "latency_calls": 2000,
        "latency_rounds": 5,
        "pipelined_calls": 20000,
        "pipelined_rounds": 5,
        "tensor_runs": 9,
        "start_runs": 15,
        "model_start_runs": 3,
        "sentences": 256,
        "embedding_rounds": 5,
        "backend_sentences": 256,
        "backend_rounds": 5,
        "contention_sentences": 256,
        "contention_rounds": 5,
        "generation_tokens": 64,
        "generation_rounds": 3,
        "kernel_sentences": 128,
        "kernel_rounds": 9,
    },
    "quick": {
        "latency_calls": 1000,
        "latency_rounds": 2,
        "pipelined_calls": 5000,
        "pipelined_rounds": 2,
        "tensor_runs": 3,
        "start_runs": 5,
        "model_start_runs": 1,
        "sentences": 128,
        "embedding_rounds": 3,
        "backend_sentences": 64,
        "backend_rounds": 2,
        "contention_sentences": 128,
        "contention_rounds": 3,
        "generation_tokens": 16,
        "generation_rounds": 2,
        "kernel_sentences": 64,
        "kernel_rounds": 5,
    },
}
SECTIONS = (
    "latency",
    "pipelined",
    "tensors",
    "coldstart",
    "embeddings",
    "isolation",
    "backends",
    "contention",
    "generation",
    "kernels",
)


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def log(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (about 4 minutes)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads for every model contender of issue 5's sections (issue 11's run the worker with "
        "its default settings and give the in-process contenders the worker's thread count)",
    )
    parser.add_argument(
        "--service-handler-threads",
        type=int,
        default=2,
        help="threads running inference in the gRPC and HTTP services (1 to 8 measured alike here)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "results.json")
    args = parser.parse_args()
    profile_name = "quick" if args.quick else "full"
    p = PROFILES[profile_name]
    wanted = set(args.only or SECTIONS)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "profile": profile_name,
        "settings": p,
        "machine": machine(),
    }

    if "latency" in wanted:
        log("latency: no-op round trips (floor, worker x4, C# host, pythonnet, gRPC, HTTP)")
        hosts, reason = dotnet.contenders()
        embedded, embedded_reason = pythonnet.latency_contenders()
        results["latency"] = latency.measure_round_trips(
            calls=p["latency_calls"], rounds=p["latency_rounds"], hosts={**hosts, **embedded}
        )
        if not hosts:
            log(f"C# host not measured: {reason}")
            results["latency"]["csharp_host_stdio"] = {"reason": reason}
        if not embedded:
            log(f"pythonnet not measured: {embedded_reason}")
            results["latency"]["pythonnet_noop"] = {"reason": embedded_reason}
    if "pipelined" in wanted:
        log("pipelined: worker/ping with 1, 8, 64 in flight")
        results["pipelined"] = latency.measure_pipelined(
            calls=p["pipelined_calls"], rounds=p["pipelined_rounds"]
        )
    if "tensors" in wanted:
        log("tensors: put+get of 1 MB and 64 MB vs raw pipe")
        results["tensors"] = tensors.measure(runs=p["tensor_runs"])
    if "coldstart" in wanted:
        log("cold start: to worker/ready, and to the first embedding")
        results["coldstart"] = coldstart.measure(
            runs=p["start_runs"], model_runs=p["model_start_runs"], threads=args.threads
        )
    if "embeddings" in wanted:
        log("embeddings: worker vs in-process (torch, ONNX Runtime) vs gRPC vs HTTP (and memory)")
        results["embeddings"] = embeddings.measure(
            threads=args.threads,
            count=p["sentences"],
            rounds=p["embedding_rounds"],
            handler_threads=args.service_handler_threads,
        )

    if "isolation" in wanted:
        log("isolation: a native crash in Python code, in-process (pythonnet) and in a worker (C# pool)")
        results["isolation"] = isolation.measure()

    if "backends" in wanted:
        for kind in ("embeddings", "classifier"):
            log(f"backends, {kind}: worker default/float32/ONNX Runtime (float32, int8) vs in-process")
            results[f"backends_{kind}"] = backends.measure(
                kind=kind, count=p["backend_sentences"], rounds=p["backend_rounds"]
            )
    if "contention" in wanted:
        log("contention: batched embeddings, quiet and with one core kept busy by another process")
        results["contention"] = contention.measure(
            count=p["contention_sentences"], rounds=p["contention_rounds"]
        )
    if "generation" in wanted:
        log("generation: GPT-2-small-shaped tokens/s, float32 and bfloat16, worker vs generate()")
        results["generation"] = generation.measure(
            tokens=p["generation_tokens"], rounds=p["generation_rounds"]
        )

    if "kernels" in wanted:
        log("kernels: torch's float32 matrix products vs ONNX Runtime's; torch.compile vs eager")
        results["kernels"] = kernels.measure(count=p["kernel_sentences"], rounds=p["kernel_rounds"])

    results["targets"] = [t.as_dict() for t in check_targets(results)]
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(render(results) + "\n")
    load = results["machine"]
    sys.stdout.write(
        f"{profile_name} run, {results['seconds']} s, load average {load['load_average_at_start']}"
        f" -> {load['load_average_at_end']}; written to {args.out}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
