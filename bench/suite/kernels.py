"""Issue 11: what bounds torch float32 against ONNX Runtime on the machine at hand, in one run.

The worker's default settings run all-MiniLM-L6-v2 through torch. Where the CPU computes bfloat16
natively, ``dtype: "auto"`` takes it and torch is far ahead; elsewhere it stays float32, and then its
speed is that of torch's float32 kernels. This section measures those kernels against ONNX Runtime's
on the same work, with the worker's threads and wait policy (idle threads sleep):

- **matrix products**: the six of one encoder layer (query, key, value, attention output, and the two
  feed-forward products; the model's own first-layer weights), at the padded shape of the backends
  section's first batch of 32 sentences and at one sentence's (a request served on its own). Torch:
  ``torch.nn.functional.linear``, what the model runs.
  ONNX Runtime: one graph of the same six MatMul + Add. These are about three quarters of the model's
  time in torch's profile.
- **the whole model through torch.compile** (inductor with frozen weights) against torch eager, on the
  same batches of 32: whether compiling would close the gap. Compiling takes tens of seconds, which is
  reported; it needs a C++ compiler, and is skipped with the reason when there is none.

Contenders take turns, rounds after a warm-up; figures are medians, ratios medians of same-round ratios.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.baselines.inprocess import bundled_model_path
from bench.suite.sentences import sentences
from bench.suite.stats import median

BATCH = 32


def _timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def layer_products(layer: Any, shapes: dict[str, int], threads: int) -> dict[str, Callable[[], Any]]:
    """The layer's six products through torch and through ONNX Runtime, on the same inputs, for each
    named number of token rows in ``shapes``."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    linears = [
        ("query", layer.attention.self.query),
        ("key", layer.attention.self.key),
        ("value", layer.attention.self.value),
        ("attention_output", layer.attention.output.dense),
        ("intermediate", layer.intermediate.dense),
        ("output", layer.output.dense),
    ]
    widths = sorted({lin.in_features for _, lin in linears})
    nodes, weights, outputs = [], [], []
    for name, lin in linears:
        weight = lin.weight.detach().numpy().T.copy()
        bias = lin.bias.detach().numpy().copy()
        weights += [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
        nodes += [
            helper.make_node("MatMul", [f"x{lin.in_features}", f"{name}_w"], [f"{name}_mm"]),
            helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [name]),
        ]
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["rows", lin.out_features]))
    graph = helper.make_graph(
        nodes,
        "one_layer_products",
        [helper.make_tensor_value_info(f"x{w}", TensorProto.FLOAT, ["rows", w]) for w in widths],
        outputs,
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # The worker's own ONNX Runtime sessions do not spin either (worker.models.threads).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    contenders: dict[str, Callable[[], Any]] = {}
    for label, rows in shapes.items():
        inputs = {width: torch.randn(rows, width, generator=generator) for width in widths}
        with torch.inference_mode():
            reference = [
                torch.nn.functional.linear(inputs[lin.in_features], lin.weight, lin.bias)
                for _, lin in linears
            ]
        feeds = {f"x{w}": tensor.numpy() for w, tensor in inputs.items()}
        for got, expected in zip(session.run(None, feeds), reference, strict=True):
            if not np.allclose(got, expected.numpy(), atol=1e-3, rtol=1e-3):
                raise AssertionError("ONNX Runtime's products differ from torch's")
        contenders[f"products_torch_{label}"] = _torch_products(linears, inputs)
        contenders[f"products_onnx_{label}"] = lambda feeds=feeds: session.run(None, feeds)
    return contenders


def _torch_products(linears: list[tuple[str, Any]], inputs: dict[int, Any]) -> Callable[[], None]:
    import torch

    def run() -> None:
        with torch.inference_mode():
            for _, lin in linears:
                torch.nn.functional.linear(inputs[lin.in_features], lin.weight, lin.bias)

    return run


Run = Callable[[], Any]


def _compiled(model: Any, batches: list[dict[str, Any]]) -> tuple[Run, Run, float]:
    """(eager, compiled, seconds spent compiling) runs of the whole model over ``batches``."""
    import torch
    import torch._inductor.config as inductor

    inductor.freezing = True  # weights become constants the compiler may pack and fold

    def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        return model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state

    compiled = torch.compile(forward, dynamic=True)

    def run(fn: Callable[..., Any]) -> Callable[[], None]:
        def go() -> None:
            with torch.inference_mode():
                for batch in batches:
                    fn(**batch)

        return go

    with torch.inference_mode():
        started = time.perf_counter()
        for batch in batches:
            compiled(**batch)
        seconds = time.perf_counter() - started
        for batch in batches:
            if not torch.allclose(compiled(**batch), forward(**batch), atol=1e-3):
                raise AssertionError("the compiled model's outputs differ from eager's")
    return run(forward), run(compiled), seconds


def measure(*, count: int, rounds: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    threads = torch.get_num_threads()
    texts = sentences(max(count, BATCH))
    batches = [
        dict(tokenizer(texts[i : i + BATCH], padding=True, truncation=True, return_tensors="pt"))
        for i in range(0, len(texts) - BATCH + 1, BATCH)
    ]
    shapes = {
        "batch": int(batches[0]["input_ids"].numel()),
        "one": int(tokenizer(texts[:1], return_tensors="pt")["input_ids"].numel()),
    }
    contenders = layer_products(model.encoder.layer[0], shapes, threads)
    result: dict[str, Any] = {
        "threads": threads,
        "rows": shapes,
        "sentences": BATCH * len(batches),
        "not_measured": {},
    }
    if shutil.which("g++") or shutil.which("c++"):
        eager, compiled, seconds = _compiled(model, batches)
        contenders.update({"model_eager": eager, "model_compiled": compiled})
        result["compile_seconds"] = round(seconds, 1)
    else:
        result["not_measured"]["torch.compile"] = "no C++ compiler (g++) on this machine"
    for run in contenders.values():
        run()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            times[name].append(_timed(run))
    pairs = [
        ("products_torch_batch", "products_onnx_batch"),
        ("products_torch_one", "products_onnx_one"),
        ("model_eager", "model_compiled"),
    ]
    result["milliseconds"] = {name: round(median(t) * 1000, 3) for name, t in times.items()}
    result["paired_ratios"] = {
        f"{a}/{b}": round(median([ta / tb for ta, tb in zip(times[a], times[b], strict=True)]), 3)
        for a, b in pairs
        if a in times and b in times
    }
    return result
