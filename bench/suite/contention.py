"""Sharing the machine (issue 11, item 5): batched embeddings while another process keeps one core busy.

A sidecar shares its cores with the app that started it. Here the app is ``python -c "while True:
pass"``, started before each measurement under load and stopped after it. Sentences per second of
all-MiniLM-L6-v2, 64 requests in flight to the worker (or batches of 32 in-process):

- the worker with default settings, on a quiet machine and with one core busy;
- ONNX Runtime float32 in-process (idle threads not spinning), quiet and with one core busy;
- the worker with ``OMP_WAIT_POLICY=ACTIVE`` in its environment (which it keeps): OpenMP threads that
  spin while they wait, to show what the default saves under load.

Same rounds, same sentences; the targets use same-round ratios.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from bench.baselines.inprocess import MODEL_ID
from bench.baselines.onnx_runtime import OnnxEmbedder
from bench.suite.sentences import sentences
from bench.suite.stats import median
from bench.suite.worker_client import BenchWorker

CONCURRENCY = 64
INPROCESS_BATCH = 32
PAIRS = [
    ("worker_busy", "onnx_busy"),
    ("worker_busy", "worker_quiet"),
    ("onnx_busy", "onnx_quiet"),
    ("worker_spinning_busy", "worker_busy"),
]


@contextmanager
def one_core_busy() -> Iterator[None]:
    """Another process spinning on a core for as long as the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it be scheduled and take its core
        yield
    finally:
        spinner.kill()
        spinner.wait()


def _worker_rate(worker: BenchWorker, handle: str, items: list[str]) -> float:
    def params(i: int) -> dict[str, str]:
        return {"handle": handle, "inputs": items[i]}

    return len(items) / worker.pipeline("model/run", params, len(items), CONCURRENCY)


def _onnx_rate(onnx: OnnxEmbedder, items: list[str]) -> float:
    start = time.perf_counter()
    for i in range(0, len(items), INPROCESS_BATCH):
        onnx.embed(items[i : i + INPROCESS_BATCH])
    return len(items) / (time.perf_counter() - start)


def measure(*, count: int, rounds: int) -> dict[str, Any]:
    items = sentences(count)
    result: dict[str, Any] = {"sentences": count, "rounds": rounds}
    with ExitStack() as stack:
        worker = stack.enter_context(BenchWorker())
        spinning = stack.enter_context(BenchWorker(env={"OMP_WAIT_POLICY": "ACTIVE"}))
        handle = worker.call("model/load", {"model": MODEL_ID})["handle"]
        spinning_handle = spinning.call("model/load", {"model": MODEL_ID})["handle"]
        compute = worker.call("worker/info")["compute"]
        result["compute"] = compute
        result["compute_spinning"] = spinning.call("worker/info")["compute"]
        threads = int(compute["threads"])
        onnx = OnnxEmbedder(threads)
        stack.callback(onnx.close)

        quiet: dict[str, Callable[[list[str]], float]] = {
            "worker_quiet": lambda xs: _worker_rate(worker, handle, xs),
            "onnx_quiet": lambda xs: _onnx_rate(onnx, xs),
        }
        busy: dict[str, Callable[[list[str]], float]] = {
            "worker_busy": lambda xs: _worker_rate(worker, handle, xs),
            "onnx_busy": lambda xs: _onnx_rate(onnx, xs),
            "worker_spinning_busy": lambda xs: _worker_rate(spinning, spinning_handle, xs),
        }
        for run in [*quiet.values(), *busy.values()]:  # warm-up
            run(items[:CONCURRENCY])
        rates: dict[str, list[float]] = {name: [] for name in [*quiet, *busy]}
        for _ in range(rounds):
            for name, run in quiet.items():
                rates[name].append(run(items))
            with one_core_busy():
                for name, run in busy.items():
                    rates[name].append(run(items))
        result["sentences_per_second"] = {name: round(median(v), 1) for name, v in rates.items()}
        result["rounds_sentences_per_second"] = {name: [round(x, 1) for x in v] for name, v in rates.items()}
        result["paired_ratios"] = {
            f"{a}/{b}": round(median([x / y for x, y in zip(rates[a], rates[b], strict=True)]), 3)
            for a, b in PAIRS
        }
    return result
