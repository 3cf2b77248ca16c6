"""The ONNX Runtime backend and ONNX export: a task's forward pass run by onnxruntime instead of torch.

A task loaded with ``backend: "onnxruntime"`` is the same task class as with torch (the same
validation, input loading, batching and result shapes); only the module its forward pass calls is
swapped for an ``OnnxModule`` (session.py) that looks like the transformers model to the task. The
graph comes from torch's own exporter (graph.py), once per model, task, exporter, opset and
quantization: the cache (cache.py) keeps it where a restarted worker finds it. Each export is checked
against torch on the task's probe input before it is kept (check.py). ``model/export`` writes the
same graph into a folder a .NET app runs with Microsoft.ML.OnnxRuntime (folder.py).

    graph.py      torch module -> model.onnx (the TorchScript exporter; dynamic batch and sequence axes)
    session.py    model.onnx -> an onnxruntime session with the worker's threads, wrapped as a module
    check.py      torch's probe against the session's: max abs difference, cosine or label agreement
    quantize.py   onnxruntime's dynamic int8 quantization of a float32 graph
    cache.py      entries keyed by the model's files and the export's settings, published atomically
    backend.py    a loaded torch task -> the same task on onnxruntime (export or cache hit, check, swap)
    folder.py     model/export: the graph, tokenizer, config and a manifest in a folder of the client's
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The tasks whose forward pass the backend can run: encoders and their heads, one pass per batch.
# Generation (a loop of passes with a cache) and the audio and detection pipelines are not among them.
TASKS = (
    "feature-extraction",
    "sentence-embeddings",
    "text-classification",
    "token-classification",
    "fill-mask",
    "question-answering",
    "zero-shot-classification",
    "image-classification",
)

# ONNX opset of an export unless the client names one; 17 is what onnxruntime 1.16 and later run.
DEFAULT_OPSET = 17
MIN_OPSET = 14
MAX_OPSET = 20
QUANTIZE = ("int8",)


@dataclass(frozen=True)
class OnnxSettings:
    """How one load or export uses the backend: where the cache is, the threads a session gets, the
    opset of a new export and the quantization."""

    cache_dir: Path
    threads: int
    opset: int = DEFAULT_OPSET
    quantize: str | None = None
