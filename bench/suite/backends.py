"""Issue 11's speed comparison: the worker's backends against ONNX Runtime in-process, in one run.

For two models, all-MiniLM-L6-v2 sentence embeddings and a classifier (random weights with
distilbert-base-uncased's real configuration, built in a temporary folder: speed does not depend on
the weights), sentences per second of:

- the worker with default settings (dtype "auto", the worker's threads), float32 forced, the ONNX
  Runtime backend in float32 and with int8 dynamic quantization; each with 64 single-sentence
  requests in flight (dynamically batched) and one request at a time;
- in-process: plain transformers in float32 (the reference), and ONNX Runtime on the very graph files
  the worker's two ONNX loads exported (so a ratio compares the serving, not two exports), in
  batches of 32 and one at a time.

Every contender's outputs are compared with in-process float32 first (cosine; for the classifier, of
the probability vectors). Everyone gets the worker's intra-op threads. The contenders take turns for
several rounds, the pairs a target compares next to each other, and the targets use the median of
same-round ratios (steadier than a ratio of medians when the machine's load swings).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from bench.baselines.inprocess import MODEL_ID, MeanPoolEmbedder, bundled_model_path
from bench.baselines.onnx_runtime import OnnxGraph
from bench.suite.sentences import sentences
from bench.suite.stats import median
from bench.suite.worker_client import BenchWorker, WorkerFailed

CONCURRENCY = 64
INPROCESS_BATCH = 32
CHECKED = 8  # sentences whose outputs every contender must agree on

# The worker's loads: contender prefix -> model/load params beyond the model.
WORKER_LOADS: dict[str, dict[str, Any]] = {
    "worker_default": {},
    "worker_float32": {"dtype": "float32"},
    "worker_onnx": {"backend": "onnxruntime"},
    "worker_onnx_int8": {"backend": "onnxruntime", "quantize": "int8"},
}
# (numerator, denominator, wanted ratio or None): the targets, and the ratios printed beside them.
PAIRS: list[tuple[str, str, float | None]] = [
    ("worker_default_concurrent_64", "onnx_inprocess_batch_32", 1.5),
    ("worker_onnx_concurrent_64", "onnx_inprocess_batch_32", 0.95),
    ("worker_onnx_int8_concurrent_64", "onnx_int8_inprocess_batch_32", 0.95),
    ("worker_default_sequential", "onnx_inprocess_batch_1", 1.2),
    ("worker_onnx_sequential", "onnx_inprocess_batch_1", None),
    ("worker_float32_concurrent_64", "inprocess_batch_32", None),
    ("worker_default_concurrent_64", "worker_float32_concurrent_64", None),
    ("onnx_int8_inprocess_batch_32", "onnx_inprocess_batch_32", None),
]
# distilbert-base-uncased's config.json, less its pretraining-only fields.
DISTILBERT_BASE = {
    "activation": "gelu",
    "dim": 768,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "hidden_dim": 3072,
    "initializer_range": 0.02,
    "max_position_embeddings": 512,
    "n_heads": 12,
    "n_layers": 6,
    "pad_token_id": 0,
    "qa_dropout": 0.1,
    "seq_classif_dropout": 0.2,
    "sinusoidal_pos_embds": False,
    "tie_weights_": True,
    "vocab_size": 30522,
}


def build_classifier(folder: Path) -> Path:
    """Random weights with distilbert-base-uncased's shape; its tokenizer is uncased BERT WordPiece, the
    same vocabulary the bundled MiniLM ships, so that one is saved with it."""
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(11)
    config = DistilBertConfig(
        **DISTILBERT_BASE, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}
    )
    DistilBertForSequenceClassification(config).eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(bundled_model_path()).save_pretrained(folder)
    return folder


class _TorchClassifier:
    def __init__(self, folder: Path, threads: int) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    def logits(self, texts: list[str]) -> Any:
        with self._torch.inference_mode():
            encoded = self.tokenizer(
                texts, padding=True, truncation=True, max_length=512, return_tensors="pt"
            )
            return self.model(**encoded).logits.numpy()


def _softmax(logits: Any) -> Any:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _rate(run: Callable[[list[str]], Any], items: list[str], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(items), batch):
        run(items[i : i + batch])
    return len(items) / (time.perf_counter() - start)


class _Model:
    """What differs between the two models: how to load them and read their outputs as vectors."""

    def __init__(self, kind: str, folder: Path, threads: int) -> None:
        self.kind, self.folder = kind, folder
        if kind == "embeddings":
            self.load_params: dict[str, Any] = {"model": MODEL_ID}
            self.run_params: dict[str, Any] = {}
            embedder = MeanPoolEmbedder(threads, folder)
            self.reference: Callable[[list[str]], Any] = lambda xs: embedder.embed(xs).numpy()
        else:
            self.load_params = {"model": str(folder), "task": "text-classification"}
            self.run_params = {"parameters": {"top_k": 2}}
            classifier = _TorchClassifier(folder, threads)
            self.reference = lambda xs: _softmax(classifier.logits(xs))

    def from_graph(self, graph: OnnxGraph) -> Callable[[list[str]], Any]:
        if self.kind == "embeddings":
            return graph.embed
        return lambda xs: _softmax(graph.logits(xs))

    def vector(self, answer: Any) -> Any:
        if self.kind == "embeddings":
            return np.asarray(answer)
        scores = {entry["label"]: entry["score"] for entry in answer}
        return np.asarray([scores["NEGATIVE"], scores["POSITIVE"]])


def measure(*, kind: str, count: int, rounds: int) -> dict[str, Any]:
    """``kind``: "embeddings" (all-MiniLM-L6-v2) or "classifier" (distilbert-base-shaped)."""
    items = sentences(count)
    result: dict[str, Any] = {"model": kind, "sentences": count, "rounds": rounds, "not_measured": {}}
    with ExitStack() as stack:
        if kind == "embeddings":
            folder = bundled_model_path()
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-classifier-"))
            folder = build_classifier(Path(tmp) / "distilbert-base-shaped")
        cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-onnx-cache-"))
        # The worker with its default settings: no --threads (torch's default), its wait policies.
        worker = stack.enter_context(BenchWorker(args=["--cache-dir", cache]))
        handles: dict[str, str] = {}
        loads: dict[str, Any] = {}
        for name, extra in WORKER_LOADS.items():
            try:
                loads[name] = worker.call("model/load", {**_load_params(kind, folder), **extra})
                handles[name] = loads[name]["handle"]
            except WorkerFailed as failure:
                result["not_measured"][name] = str(failure)
        info = worker.call("worker/info")
        result["compute"] = info.get("compute")
        threads = int((info.get("compute") or {}).get("threads") or 2)
        result["threads"] = threads
        model = _Model(kind, folder, threads)
        result["precision"] = {name: load.get("precision") for name, load in loads.items()}
        result["onnx"] = {name: load.get("onnx") for name, load in loads.items() if load.get("onnx")}

        def worker_run(handle: str) -> Callable[[list[str], int], float]:
            def rate(xs: list[str], window: int) -> float:
                def params(i: int) -> dict[str, Any]:
                    return {"handle": handle, "inputs": xs[i], **model.run_params}

                return len(xs) / worker.pipeline("model/run", params, len(xs), window)

            return rate

        inprocess: dict[str, Callable[[list[str]], Any]] = {"inprocess": model.reference}
        for name, prefix in (("worker_onnx", "onnx_inprocess"), ("worker_onnx_int8", "onnx_int8_inprocess")):
            onnx = (loads.get(name) or {}).get("onnx")
            if onnx:
                inprocess[prefix] = model.from_graph(OnnxGraph(Path(onnx["path"]), folder, threads))
            else:
                result["not_measured"][prefix] = f"{name} did not load"

        # Every contender's outputs against in-process float32 on the same sentences.
        reference = model.reference(items[:CHECKED])
        cosines: dict[str, float] = {}
        for name, handle in handles.items():
            answers = [
                worker.call("model/run", {"handle": handle, "inputs": text, **model.run_params})
                for text in items[:CHECKED]
            ]
            cosines[name] = min(_cosine(model.vector(a), r) for a, r in zip(answers, reference, strict=True))
        for name, run in inprocess.items():
            if name != "inprocess":
                cosines[name] = min(
                    _cosine(a, r) for a, r in zip(run(items[:CHECKED]), reference, strict=True)
                )
        result["cosine_to_float32"] = {k: round(v, 6) for k, v in cosines.items()}

        contenders: dict[str, Callable[[list[str]], float]] = {}
        # In this order each round: every target's pair runs side by side (PAIRS).
        for name in ("worker_default", "worker_float32", "worker_onnx", "worker_onnx_int8"):
            if name in handles:
                run = worker_run(handles[name])
                contenders[f"{name}_concurrent_64"] = lambda xs, run=run: run(xs, CONCURRENCY)
        for prefix, run_batch in inprocess.items():
            contenders[f"{prefix}_batch_32"] = lambda xs, f=run_batch: _rate(f, xs, INPROCESS_BATCH)
        for name in ("worker_default", "worker_onnx", "worker_onnx_int8", "worker_float32"):
            if name in handles:
                run = worker_run(handles[name])
                contenders[f"{name}_sequential"] = lambda xs, run=run: run(xs, 1)
        for prefix, run_batch in inprocess.items():
            contenders[f"{prefix}_batch_1"] = lambda xs, f=run_batch: _rate(f, xs, 1)

        for run_one in contenders.values():  # warm-up: first batches, thread pools
            run_one(items[:INPROCESS_BATCH])
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, run_one in contenders.items():
                rates[name].append(run_one(items))
        result["sentences_per_second"] = {name: round(median(v), 1) for name, v in rates.items()}
        result["rounds_sentences_per_second"] = {name: [round(x, 1) for x in v] for name, v in rates.items()}
        result["paired_ratios"] = {
            f"{a}/{b}": round(median([x / y for x, y in zip(rates[a], rates[b], strict=True)]), 3)
            for a, b, _wanted in PAIRS
            if a in rates and b in rates
        }
    return result


def _load_params(kind: str, folder: Path) -> dict[str, Any]:
    if kind == "embeddings":
        return {"model": MODEL_ID}
    return {"model": str(folder), "task": "text-classification"}
