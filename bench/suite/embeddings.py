"""Sentence embeddings with the default model (all-MiniLM-L6-v2), sentences per second:

- the worker, one request at a time, and 64 requests in flight (dynamically batched);
- the same model in-process (plain transformers), batches of 32 and of 1;
- the same model exported to ONNX and run in-process by ONNX Runtime (CPU), batches of 32 and of 1;
- the gRPC and HTTP services, one sentence per request, 64 concurrent clients;
- the same model in CPython embedded in a .NET process with pythonnet (see ``pythonnet``): batches of
  32, one at a time, and 64 .NET threads each embedding its own sentence.

Everyone gets the same torch intra-op threads. The contenders take turns for several rounds over the
same sentences, so a busy moment on the machine hits them alike; each reports its median round. A
first check makes sure they all compute the same vectors (so nobody wins by doing less work).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import numpy as np

from bench.baselines.inprocess import MODEL_ID, MeanPoolEmbedder
from bench.baselines.onnx_runtime import OnnxEmbedder
from bench.suite import pythonnet
from bench.suite.sentences import sentences
from bench.suite.services import GrpcClient, HttpClient, ServiceProcess, concurrent_rate
from bench.suite.stats import median
from bench.suite.worker_client import BenchWorker

CONCURRENCY = 64
INPROCESS_BATCH = 32
PAIRS = [
    ("worker_concurrent_64", "inprocess_batch_32"),
    ("grpc_concurrent_64", "worker_concurrent_64"),
    ("http_concurrent_64", "worker_concurrent_64"),
    ("onnx_batch_32", "worker_concurrent_64"),
    ("onnx_batch_32", "inprocess_batch_32"),
    ("onnx_batch_1", "inprocess_batch_1"),
    ("pythonnet_batch_32", "inprocess_batch_32"),
    ("pythonnet_concurrent_64", "worker_concurrent_64"),
    ("pythonnet_sequential", "worker_sequential"),
]


def _worker_rate(worker: BenchWorker, handle: str, items: list[str], window: int) -> float:
    def params(i: int) -> dict[str, str]:
        return {"handle": handle, "inputs": items[i]}

    return len(items) / worker.pipeline("model/run", params, len(items), window)


def _inprocess_rate(embedder: MeanPoolEmbedder | OnnxEmbedder, items: list[str], batch: int) -> float:
    import time

    start = time.perf_counter()
    for i in range(0, len(items), batch):
        embedder.embed(items[i : i + batch])
    return len(items) / (time.perf_counter() - start)


def _grpc_caller(port: int) -> Any:
    client = GrpcClient(port)
    return lambda text: client.embed(text.encode())


def _http_caller(port: int) -> Any:
    client = HttpClient(port)
    return lambda text: client.post("/embed", text.encode())


def _cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def measure(*, threads: int, count: int, rounds: int, handler_threads: int) -> dict[str, Any]:
    items = sentences(count)
    result: dict[str, Any] = {"threads": threads, "sentences": count, "rounds": rounds}
    service_args = ["--embed", "--threads", str(threads), "--handler-threads", str(handler_threads)]
    with ExitStack() as stack:
        # The services load the model while the worker and this process do (their ports wait).
        grpc_service = stack.enter_context(ServiceProcess("grpc_service", *service_args))
        http_service = stack.enter_context(ServiceProcess("http_service", *service_args))
        worker = stack.enter_context(BenchWorker(args=["--threads", str(threads)]))
        idle_rss = worker.rss_bytes()
        loaded = worker.call("model/load", {"model": MODEL_ID})
        handle = loaded["handle"]
        embedder = MeanPoolEmbedder(threads)
        # Exported here, into a temporary folder, from the same bundled model; ONNX Runtime gets the
        # same number of intra-op threads as torch.
        onnx = OnnxEmbedder(threads)
        stack.callback(onnx.close)
        exe, reason = pythonnet.build()
        embedded, reason = pythonnet.start_embedded(exe, items, threads) if exe else (None, reason)
        if embedded is not None:
            stack.callback(embedded.close)
        else:
            result["pythonnet_not_measured"] = reason

        # Same vectors everywhere (the worker's pooling and normalisation come from the model folder).
        reference = embedder.embed([items[0]])[0].numpy()
        grpc_vector = np.frombuffer(_grpc_caller(grpc_service.port)(items[0]), dtype="<f4")
        http_vector = np.asarray(
            HttpClient(http_service.port).post("/embed", items[0].encode()).decode().strip("[]").split(","),
            dtype=np.float64,
        )
        # ONNX also on a padded batch of 32 (the export froze the shape checks it traced).
        onnx_batch = onnx.embed(items[:INPROCESS_BATCH])
        torch_batch = embedder.embed(items[:INPROCESS_BATCH]).numpy()
        checks = {
            "onnx": _cosine(onnx.embed([items[0]])[0], reference),
            "onnx_batch_32_worst": min(_cosine(a, b) for a, b in zip(onnx_batch, torch_batch, strict=True)),
            "worker": _cosine(worker.call("model/run", {"handle": handle, "inputs": items[0]}), reference),
            "grpc": _cosine(grpc_vector, reference),
            "http": _cosine(http_vector, reference),
        }
        if embedded is not None:
            checks["pythonnet"] = _cosine(embedded.first_vector(), reference)
        result["cosine_to_inprocess"] = {k: round(v, 6) for k, v in checks.items()}
        if min(checks.values()) < 0.9999:
            raise RuntimeError(f"the contenders disagree on the embeddings: {checks}")

        # In this order each round, so that the pairs compared (PAIRS) run next to each other.
        # pythonnet's sentences are ``items``, so "the first len(xs)" is xs.
        contenders: dict[str, Callable[[list[str]], float]] = {
            "onnx_batch_32": lambda xs: _inprocess_rate(onnx, xs, INPROCESS_BATCH),
            "inprocess_batch_32": lambda xs: _inprocess_rate(embedder, xs, INPROCESS_BATCH),
            "pythonnet_batch_32": lambda xs: embedded.rate("batch32", len(xs)),
            "worker_concurrent_64": lambda xs: _worker_rate(worker, handle, xs, CONCURRENCY),
            "pythonnet_concurrent_64": lambda xs: embedded.rate("concurrent64", len(xs)),
            "grpc_concurrent_64": lambda xs: concurrent_rate(
                lambda: _grpc_caller(grpc_service.port), xs, CONCURRENCY
            ),
            "http_concurrent_64": lambda xs: concurrent_rate(
                lambda: _http_caller(http_service.port), xs, CONCURRENCY
            ),
            "worker_sequential": lambda xs: _worker_rate(worker, handle, xs, 1),
            "pythonnet_sequential": lambda xs: embedded.rate("sequential", len(xs)),
            "inprocess_batch_1": lambda xs: _inprocess_rate(embedder, xs, 1),
            "onnx_batch_1": lambda xs: _inprocess_rate(onnx, xs, 1),
        }
        if embedded is None:
            contenders = {k: v for k, v in contenders.items() if not k.startswith("pythonnet")}
        for run in contenders.values():  # warm-up (first batches, thread pools, connections)
            run(items[:CONCURRENCY])
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, run in contenders.items():
                rates[name].append(run(items))
        result["sentences_per_second"] = {name: round(median(v), 1) for name, v in rates.items()}
        # Ratios of two contenders measured one right after the other in the same round, then the
        # median over rounds: steadier than a ratio of medians when the machine's load swings.
        result["paired_ratios"] = {
            f"{a}/{b}": round(median([x / y for x, y in zip(rates[a], rates[b], strict=True)]), 3)
            for a, b in PAIRS
            if a in rates and b in rates
        }
        result["rounds_sentences_per_second"] = {name: [round(x, 1) for x in v] for name, v in rates.items()}
        result["memory"] = {
            "worker_idle_rss_bytes": idle_rss,
            "worker_model_loaded_rss_bytes": worker.rss_bytes(),
            "grpc_service_rss_bytes": grpc_service.rss_bytes(),
            "http_service_rss_bytes": http_service.rss_bytes(),
        }
        if embedded is not None:
            result["memory"]["pythonnet_model_loaded_rss_bytes"] = embedded.rss_bytes()
        result["batching"] = loaded.get("batching")
    return result
