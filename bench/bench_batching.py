"""Dynamic batching: 64 concurrent single-sentence embedding requests through the worker, against
the same model (all-MiniLM-L6-v2) called in-process with batches of 32, measured in the same run.

Contenders, sentences per second, each the median of several rounds taken in turns so that a busy
moment on the machine hits them alike (each measurement is ``--bursts`` bursts of 64 sentences):

    worker, batched       64 model/run requests in flight, one sentence each (max_batch_size 32)
    worker, unbatched     the same with batching off (max_batch_size 1): one forward pass per request
    in-process, batch 32  sentence-transformers' encode(batch_size=32) on the same 64 sentences
    in-process, batch 1   encode(batch_size=1)
    in-process, worker code, batch 32   the worker's own embedding code (tokenise, forward, pool,
                          normalise) called directly: the same work without protocol or batcher

Target: worker batched >= 90% of the faster in-process batch-32 contender, judged on the median of
per-round ratios (the compared contenders run back to back in each round, so a load spike from
another process rarely falls on one side only). All use the same torch intra-op threads.

    .venv/bin/python bench/bench_batching.py [--rounds 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worker.client import WorkerClient  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BATCHED = "worker, batched (64 in flight)"
UNBATCHED = "worker, unbatched (64 in flight)"
DIRECT = "in-process, worker code, batch 32"
ST32 = "in-process, batch 32"
ST1 = "in-process, batch 1"
REQUESTS = 64
TARGET = 0.90

_SUBJECTS = [
    "The engineer",
    "A small cat",
    "Our quarterly report",
    "The new library",
    "My neighbour",
    "The night train",
    "A quiet river",
    "This worker process",
]
_ACTIONS = [
    "explains how the system recovers after a crash",
    "sleeps on the warm windowsill all afternoon",
    "shows that revenue grew faster than expected",
    "loads models once and keeps them in memory",
    "plays the piano every evening after dinner",
    "arrives late because of snow on the tracks",
    "flows slowly past the old mill and the bridge",
    "answers requests from the host over a pipe",
]


def sentences(n: int) -> list[str]:
    """n distinct ordinary sentences of 8 to 14 words."""
    return [f"{_SUBJECTS[i % 8]} {_ACTIONS[(i // 8 + i) % 8]} (case {i})." for i in range(n)]


def worker_rate(worker: WorkerClient, handle: str, texts: list[str], bursts: int) -> float:
    """Bursts of one request per text, all in flight at once; waits for every answer of a burst."""
    started = time.perf_counter()
    for _ in range(bursts):
        calls = [worker.send("model/run", {"handle": handle, "inputs": text}) for text in texts]
        for call in calls:
            worker.result(call, timeout=300)
    return bursts * len(texts) / (time.perf_counter() - started)


def inprocess_rate(model: Any, texts: list[str], batch_size: int, bursts: int) -> float:
    started = time.perf_counter()
    for _ in range(bursts):
        model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
    return bursts * len(texts) / (time.perf_counter() - started)


def direct_rate(task: Any, texts: list[str], batch_size: int, bursts: int) -> float:
    started = time.perf_counter()
    for _ in range(bursts):
        for start in range(0, len(texts), batch_size):
            task.embed(texts[start : start + batch_size])
    return bursts * len(texts) / (time.perf_counter() - started)


def worker_code_in_process(threads: int) -> Any:
    """The worker's SentenceEmbeddings task for MODEL, built in this process by the real registry."""
    from worker.config import Config
    from worker.models.loading import LoadRequest
    from worker.models.registry import ModelRegistry
    from worker.runtime.state import WorkerState

    state = WorkerState(Config(threads=threads))
    loaded = state.service(ModelRegistry).load(LoadRequest(model=MODEL), None, report=lambda stage: None)
    return loaded.model.task


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--bursts", type=int, default=3, help="bursts of 64 sentences per measurement")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from worker.models.sources import bundled_folder, resolve

    torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    folder = resolve(MODEL).path if bundled_folder(MODEL) is None else bundled_folder(MODEL)
    inprocess = SentenceTransformer(str(folder), device="cpu")
    direct = worker_code_in_process(args.threads)
    texts = sentences(REQUESTS)

    quiet = open(os.devnull, "wb")  # noqa: SIM115 - the workers' logs
    worker_args = ["--threads", str(args.threads)]
    with WorkerClient(worker_args, stderr=quiet) as worker, WorkerClient(worker_args, stderr=quiet) as plain:
        batched = worker.call(
            "model/load", {"model": MODEL, "batching": {"max_batch_size": 32, "max_delay_ms": 5}}, timeout=300
        )
        unbatched = plain.call("model/load", {"model": MODEL, "batching": {"max_batch_size": 1}}, timeout=300)
        _check_same_vectors(worker, batched["handle"], inprocess, texts[:8])

        b = args.bursts
        # Compared contenders first and back to back: batched worker, then the two in-process batch-32 runs.
        contenders: dict[str, Callable[[], float]] = {
            BATCHED: lambda: worker_rate(worker, batched["handle"], texts, b),
            DIRECT: lambda: direct_rate(direct, texts, 32, b),
            ST32: lambda: inprocess_rate(inprocess, texts, 32, b),
            UNBATCHED: lambda: worker_rate(plain, unbatched["handle"], texts, b),
            ST1: lambda: inprocess_rate(inprocess, texts, 1, b),
        }
        for run in contenders.values():  # warm-up: first calls pay for lazy initialisation
            run()
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        ratios: list[float] = []
        for _ in range(args.rounds):
            for name, run in contenders.items():
                rates[name].append(run())
            ratios.append(rates[BATCHED][-1] / max(rates[DIRECT][-1], rates[ST32][-1]))
        batches = next(
            m["batches_run"] for m in worker.call("model/list")["models"] if m["handle"] == batched["handle"]
        )
    quiet.close()

    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = statistics.median(ratios)
    lines = []
    for name, value in medians.items():
        spread = f"{min(rates[name]):.0f}-{max(rates[name]):.0f}"
        lines.append(f"{name:36s} {value:7.1f} sentences/s   (rounds {spread})")
    requests = REQUESTS * b * (args.rounds + 1) + 8
    lines.append(
        f"{'batched forward passes':36s} {batches:7d}   ({requests / batches:.1f} requests per pass)"
    )
    verdict = "meets" if ratio >= TARGET else "MISSES"
    lines.append(
        f"worker batched / best in-process batch 32, median of per-round ratios = {ratio:.2f} "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f}; {verdict} the {TARGET:.0%} target)"
    )
    print("\n".join(lines))  # noqa: T201 - a benchmark's report
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "threads": args.threads,
                    "rounds": args.rounds,
                    "medians": medians,
                    "rates": rates,
                    "ratios": ratios,
                    "ratio": ratio,
                    "target": TARGET,
                },
                indent=2,
            )
        )
    return 0 if ratio >= TARGET else 1


def _check_same_vectors(worker: WorkerClient, handle: str, inprocess: Any, texts: list[str]) -> None:
    """Nobody wins by doing less work: both sides compute the same embeddings."""
    ours = np.asarray(worker.call("model/run", {"handle": handle, "inputs": texts}, timeout=300))
    theirs = inprocess.encode(texts, convert_to_numpy=True)
    cosine = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosine.min() > 0.9999, cosine


if __name__ == "__main__":
    sys.exit(main())
