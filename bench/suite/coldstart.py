"""Cold start: process start to ``worker/ready``, and to the default model loaded and answering an
embedding; beside, in the same run, a bare ``python -c pass``, the same model loaded in a fresh
Python process with plain transformers (what an in-process or microservice start-up costs), and in a
fresh .NET process embedding CPython with pythonnet (when it builds here)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.baselines.inprocess import MODEL_ID
from bench.bench_startup import time_bare, time_ready
from bench.suite import pythonnet
from bench.suite.stats import median
from bench.suite.worker_client import ROOT, BenchWorker

_INPROCESS = """
from bench.baselines.inprocess import MeanPoolEmbedder
MeanPoolEmbedder(int(__import__("sys").argv[1])).embed(["How fast does this start?"])
"""


def time_worker_to_embedding(threads: int) -> float:
    start = time.perf_counter()
    with BenchWorker(args=["--threads", str(threads)]) as worker:
        handle = worker.call("model/load", {"model": MODEL_ID})["handle"]
        vector = worker.call("model/run", {"handle": handle, "inputs": "How fast does this start?"})
        elapsed = time.perf_counter() - start
    if len(vector) != 384:
        raise RuntimeError(f"unexpected embedding of {len(vector)} values")
    return elapsed


def time_inprocess_to_embedding(threads: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _INPROCESS, str(threads)], check=True, cwd=ROOT, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def time_pythonnet_to_embedding(exe: Path, threads: int) -> float:
    """Mono start, CPython embedded and initialised, the model loaded, one sentence embedded."""
    model = pythonnet.EmbeddedModel(exe, ["How fast does this start?"], threads)
    model.close()
    return model.start_to_first_embedding_s


def measure(*, runs: int, model_runs: int, threads: int) -> dict[str, Any]:
    bare, ready = [], []
    for _ in range(runs):
        bare.append(time_bare(sys.executable))
        ready.append(time_ready([sys.executable, "-m", "worker"]))
    to_embedding, inprocess, embedded = [], [], []
    exe, reason = pythonnet.build()
    for _ in range(model_runs):
        inprocess.append(time_inprocess_to_embedding(threads))
        to_embedding.append(time_worker_to_embedding(threads))
        if exe is not None:
            embedded.append(time_pythonnet_to_embedding(exe, threads))
    pythonnet_row: dict[str, Any] = (
        {"pythonnet_to_first_embedding_ms": round(median(embedded) * 1000)}
        if embedded
        else {"pythonnet_not_measured": reason}
    )
    return {
        "runs": runs,
        "model_runs": model_runs,
        "python_bare_ms": round(median(bare) * 1000, 1),
        "worker_ready_ms": round(median(ready) * 1000, 1),
        "worker_to_first_embedding_ms": round(median(to_embedding) * 1000),
        "inprocess_to_first_embedding_ms": round(median(inprocess) * 1000),
        **pythonnet_row,
    }
