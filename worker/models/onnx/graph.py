"""A loaded task's torch model written as an ONNX graph, with its batch (and sequence) axes dynamic.

The exporter is torch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): it needs only
the ``onnx`` package, traces the encoders this backend serves (BERT-like and ViT-like models) in about
a second, and gives graphs onnxruntime runs at its full speed. The torch.export-based exporter (torch's
default since 2.9) needs ``onnxscript`` besides, and its shape constraints have to be spelled out for
every model family whose forward pass branches on sizes. Which exporter made a graph is part of its
cache key (``EXPORTER``), so a change of exporter or torch version exports again.

The traced module is a thin wrapper (``_traced_class``) with one positional tensor per graph input: the
tracer fills a model's defaulted arguments positionally, which collides with transformers'
keyword-only wrappers, and each task needs only its own outputs by name.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from worker.errors import UnsupportedTask
from worker.models import runtime
from worker.models.tasks.base import PROBE_TEXTS, Task

EXPORTER = "torchscript"


class TensorSpec(msgspec.Struct, frozen=True):
    """One graph input or output: its name, element type and shape (names for the dynamic axes)."""

    name: str
    dtype: str
    shape: list[str | int]


class Signature(msgspec.Struct, frozen=True):
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


def exporter_name() -> str:
    """The exporter and torch version (a graph's cache key depends on both)."""
    return f"{EXPORTER} (torch {runtime.torch().__version__})"


def export(task: Task, path: Path, opset: int) -> Signature:
    """Write ``task``'s float32 torch model to ``path`` and say what the graph takes and returns."""
    torch = runtime.torch()
    names, sample = _sample_inputs(task)
    outputs = _outputs(task)
    traced = _traced_class()(task.module, names, outputs.pick).eval()
    dynamic = {
        spec.name: _dynamic_axes(spec) for spec in [*_input_specs(task, names, sample), *outputs.specs]
    }
    try:
        with runtime.no_grad(), warnings.catch_warnings():
            # The tracer's notes on size checks it freezes and on opset indexing: the graph is checked
            # against torch on the probe input (check.py) before it is kept, whatever was noted.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                traced,
                tuple(sample[name] for name in names),
                str(path),
                input_names=names,
                output_names=[spec.name for spec in outputs.specs],
                dynamic_axes=dynamic,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    except (
        Exception
    ) as exc:  # the exporter's own failure, in its words: the client learns what did not export
        raise UnsupportedTask(f"{task.task_name}: the model could not be exported to ONNX: {exc}") from exc
    return Signature(inputs=_input_specs(task, names, sample), outputs=outputs.specs)


def tokenizer_of(task: Task) -> Any:
    """The task's tokenizer (None for an image task)."""
    pipe = getattr(task, "pipe", None)
    return getattr(task, "tokenizer", None) or getattr(pipe, "tokenizer", None)


def _traced_class() -> Any:
    """The wrapper class, built on first use: torch is not imported with this module."""
    torch = runtime.torch()

    class Traced(torch.nn.Module):  # type: ignore[name-defined,misc]
        def __init__(self, model: Any, names: list[str], pick: Callable[[Any, dict[str, Any]], Any]) -> None:
            super().__init__()
            self.model = model
            self.names = names
            self.pick = pick

        def forward(self, *tensors: Any) -> Any:
            inputs = dict(zip(self.names, tensors, strict=True))
            return self.pick(self.model(**inputs), inputs)

    return Traced


def _sample_inputs(task: Task) -> tuple[list[str], dict[str, Any]]:
    """The graph's input names and a sample batch for the tracer (two rows of different lengths)."""
    tokenizer = tokenizer_of(task)
    if tokenizer is None:
        return ["pixel_values"], {"pixel_values": _sample_images(task)}
    encoded = tokenizer(list(PROBE_TEXTS[:2]), padding=True, return_tensors="pt")
    accepted = inspect.signature(task.module.forward).parameters
    names = [name for name in tokenizer.model_input_names if name in encoded and name in accepted]
    if "input_ids" not in names:
        raise UnsupportedTask(f"{task.task_name}: the model takes no input_ids; it cannot be exported")
    return names, {name: encoded[name] for name in names}


def _sample_images(task: Task) -> Any:
    import numpy as np
    from PIL import Image

    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    images = [Image.fromarray(pixels), Image.fromarray(pixels + 128)]
    processor = task.pipe.image_processor  # type: ignore[attr-defined]
    return processor(images=images, return_tensors="pt")["pixel_values"].float()


def _input_specs(task: Task, names: list[str], sample: dict[str, Any]) -> list[TensorSpec]:
    if names == ["pixel_values"]:
        shape: list[str | int] = ["batch", *[int(n) for n in sample["pixel_values"].shape[1:]]]
        return [TensorSpec("pixel_values", "float32", shape)]
    return [TensorSpec(name, "int64", ["batch", "sequence"]) for name in names]


def _dynamic_axes(spec: TensorSpec) -> dict[int, str]:
    return {axis: name for axis, name in enumerate(spec.shape) if isinstance(name, str)}


@dataclass(frozen=True)
class _Outputs:
    specs: list[TensorSpec]
    pick: Callable[[Any, dict[str, Any]], Any]


def _outputs(task: Task) -> _Outputs:
    """What the graph returns for ``task``, and how to take it from the torch model's output."""
    config = task.module.config
    name = task.task_name
    labels = int(getattr(config, "num_labels", 0) or 0)
    if name == "feature-extraction":
        hidden = TensorSpec("last_hidden_state", "float32", ["batch", "sequence", int(config.hidden_size)])
        return _Outputs([hidden], lambda out, inputs: out[0])
    if name == "sentence-embeddings":
        return _sentence_outputs(task)
    if name in ("text-classification", "zero-shot-classification", "image-classification"):
        return _Outputs([TensorSpec("logits", "float32", ["batch", labels])], lambda out, inputs: out.logits)
    if name == "token-classification":
        logits = TensorSpec("logits", "float32", ["batch", "sequence", labels])
        return _Outputs([logits], lambda out, inputs: out.logits)
    if name == "fill-mask":
        logits = TensorSpec("logits", "float32", ["batch", "sequence", int(config.vocab_size)])
        return _Outputs([logits], lambda out, inputs: out.logits)
    if name == "question-answering":
        specs = [TensorSpec(n, "float32", ["batch", "sequence"]) for n in ("start_logits", "end_logits")]
        return _Outputs(specs, lambda out, inputs: (out.start_logits, out.end_logits))
    raise UnsupportedTask(f"{name} has no ONNX export")


def _sentence_outputs(task: Task) -> _Outputs:
    """Token vectors, and the pooled sentence vector (Pooling and Dense modules, before Normalize:
    the manifest says whether to normalise), so that an app needs no pooling code of its own."""
    from worker.models.tasks.embeddings import pool

    sentence_config = task.config  # type: ignore[attr-defined]
    dense = list(task.dense)  # type: ignore[attr-defined]
    hidden_size = int(task.module.config.hidden_size)

    def pick(out: Any, inputs: dict[str, Any]) -> Any:
        hidden = out[0]
        vectors = pool(hidden, inputs["attention_mask"], sentence_config.pooling)
        for layer in dense:
            vectors = layer(vectors)
        return hidden, vectors

    specs = [
        TensorSpec("last_hidden_state", "float32", ["batch", "sequence", hidden_size]),
        TensorSpec("sentence_embedding", "float32", ["batch", int(task.dimension)]),  # type: ignore[attr-defined]
    ]
    return _Outputs(specs, pick)
