"""model/export: write a model as a folder that an app runs without Python (ONNX, for .NET's
Microsoft.ML.OnnxRuntime). The work is in ``worker.models.onnx`` (imported inside the method: it
imports torch)."""

from __future__ import annotations

from typing import Literal

from worker.errors import InvalidParams
from worker.rpc.messages import Params
from worker.runtime.context import RequestContext
from worker.runtime.registry import Handlers

handlers = Handlers()


class ExportParams(Params, kw_only=True):
    # The model to export: a model id or folder as model/load takes it, or a loaded model's handle.
    model: str | None = None
    handle: str | None = None
    task: str | None = None
    revision: str | None = None
    format: Literal["onnx"] = "onnx"
    # An absolute path to a folder that does not exist yet or is empty (worker.models.onnx.folder).
    output: str
    quantize: Literal["int8"] | None = None
    opset: int | None = None


@handlers.method("model/export")
def export(params: ExportParams, ctx: RequestContext) -> object:
    """Export a model's forward pass to ONNX, with its tokenizer, config and a manifest, into a folder."""
    from worker.models import loading
    from worker.models.onnx import MAX_OPSET, MIN_OPSET, backend, folder
    from worker.models.registry import ModelRegistry

    if (params.model is None) == (params.handle is None):
        raise InvalidParams("model/export takes model or handle (one of them)")
    if params.opset is not None and not MIN_OPSET <= params.opset <= MAX_OPSET:
        raise InvalidParams(f"opset must be from {MIN_OPSET} to {MAX_OPSET}, got {params.opset}")
    config = ctx.state.config
    target = folder.check_output(params.output, config)
    label = params.model or params.handle

    def report(stage: str) -> None:
        ctx.check_cancelled()
        ctx.progress({"stage": stage, "model": label})

    if params.handle is not None:
        # The loaded model's files, task and options; exported from its float32 weights, whatever
        # dtype or backend it runs in.
        loaded = ctx.state.service(ModelRegistry).get(params.handle)
        model, task = str(loaded.prepared.source.path), loaded.prepared.task
        options = tuple(sorted(loaded.prepared.options.items()))
        if loaded.prepared.trust_remote_code:
            options = (*options, ("trust_remote_code", True))
    else:
        model, task, options = params.model, params.task, ()  # type: ignore[assignment]
    request = loading.LoadRequest(
        model=model,
        task=task,
        revision=params.revision if params.handle is None else None,
        device="cpu",
        dtype="float32",
        options=options,
        backend="onnxruntime",
        quantize=params.quantize,
        opset=params.opset,
    )
    prepared = loading.prepare(request, config, report)
    assert prepared.onnx is not None
    entry = backend.find(prepared.source.path, prepared.task, prepared.options, prepared.onnx)
    cached = entry is not None
    if entry is None:
        task_object = loading.load_task(prepared, report)
        try:
            entry, cached = backend.ensure(
                task_object, prepared.source.path, prepared.options, prepared.onnx, report
            )
        finally:
            task_object.release()
    result = folder.write(target, entry, cached, prepared, report)
    ctx.progress({"stage": "ready", "model": label})
    return result
