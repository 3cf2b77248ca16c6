"""Model methods: model/load, model/run, model/unload, model/list.

Thin: typed params and results here, the work in ``worker.models`` (imported inside the methods,
since it imports torch and transformers). All four run on handler threads, never on the reader.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import msgspec

from worker.errors import InvalidParams, RequestCancelled
from worker.models.inputs.spec import Input
from worker.models.precision import Precision
from worker.rpc.messages import Params
from worker.runtime.context import RequestContext
from worker.runtime.registry import Handlers

handlers = Handlers()


class Batching(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max_batch_size: int = 32
    max_delay_ms: float = 5.0


class LoadParams(Params):
    model: str
    task: str | None = None
    revision: str | None = None
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    options: dict[str, Any] = {}
    batching: Batching | None = None
    # "onnxruntime" runs the forward pass on an ONNX export of the model (worker.models.onnx).
    backend: Literal["torch", "onnxruntime"] = "torch"
    quantize: Literal["int8"] | None = None


class LoadResult(msgspec.Struct):
    handle: str
    task: str
    model: str
    device: str
    dtype: str
    parameters: int
    memory_bytes: int
    load_seconds: float
    references: int
    reused: bool
    source: str  # folder, cache, bundled or hub
    path: str
    batching: Batching | None
    precision: Precision
    backend: str = "torch"
    # The ONNX graph the model runs (backend onnxruntime), else null.
    onnx: Any = None


class RunParams(Params):
    handle: str
    inputs: Input | list[Input]
    parameters: dict[str, Any] = {}
    keep: bool = False


class HandleParams(Params):
    handle: str


class UnloadResult(msgspec.Struct):
    handle: str
    references: int
    unloaded: bool


class ListParams(Params):
    pass


class ModelInfo(msgspec.Struct):
    handle: str
    task: str
    model: str
    device: str
    dtype: str
    parameters: int
    memory_bytes: int
    references: int
    source: str
    path: str
    batching: Batching | None
    batches_run: int
    loaded_at: float
    precision: Precision
    backend: str = "torch"


class ListResult(msgspec.Struct):
    models: list[ModelInfo]
    memory_bytes: int
    # torch's intra-op threads (--threads), or null while torch is not loaded yet.
    torch_threads: int | None


@handlers.method("model/load")
def load(params: LoadParams, ctx: RequestContext) -> LoadResult:
    """Load a model (or add a reference to the same one already loaded) and return its handle."""
    from worker.models.batching import BatchingSettings
    from worker.models.loading import LoadRequest
    from worker.models.registry import ModelRegistry

    settings = None
    if params.batching is not None:
        if params.batching.max_batch_size < 1 or not 0 <= params.batching.max_delay_ms <= 10_000:
            raise InvalidParams("batching needs max_batch_size >= 1 and 0 <= max_delay_ms <= 10000")
        settings = BatchingSettings(params.batching.max_batch_size, params.batching.max_delay_ms)
    request = LoadRequest(
        model=params.model,
        task=params.task,
        revision=params.revision,
        device=params.device,
        dtype=params.dtype,
        options=tuple(sorted(params.options.items())),
        backend=params.backend,
        quantize=params.quantize,
    )

    def report(stage: str) -> None:
        ctx.check_cancelled()
        ctx.progress({"stage": stage, "model": params.model})

    registry = ctx.state.service(ModelRegistry)
    outcome = registry.load(request, settings, report)
    loaded = outcome.model
    if ctx.cancelled:
        # Nobody will learn this handle: do not keep a reference no client can drop.
        registry.unload(loaded.handle)
        raise RequestCancelled()
    ctx.progress({"stage": "ready", "model": params.model})
    return LoadResult(
        handle=loaded.handle,
        task=loaded.task.task_name,
        model=loaded.name,
        device=str(loaded.prepared.device),
        dtype=loaded.precision.chosen,
        parameters=loaded.parameters,
        memory_bytes=loaded.memory_bytes,
        load_seconds=round(loaded.load_seconds, 3),
        references=loaded.references,
        reused=outcome.reused,
        source=loaded.prepared.source.origin,
        path=str(loaded.prepared.source.path),
        batching=_batching(loaded),
        precision=loaded.precision,
        backend=loaded.prepared.backend,
        onnx=_onnx(loaded),
    )


@handlers.method("model/run")
def run(params: RunParams, ctx: RequestContext) -> Any:
    """Run a loaded model on one input or a list of inputs (a batch)."""
    from worker.models.running import run as run_model

    return run_model(ctx.state, params.handle, params.inputs, params.parameters, params.keep, ctx)


@handlers.method("model/unload")
def unload(params: HandleParams, ctx: RequestContext) -> UnloadResult:
    """Drop one reference to a model; the last one frees it."""
    from worker.models.registry import ModelRegistry

    references, unloaded = ctx.state.service(ModelRegistry).unload(params.handle)
    return UnloadResult(handle=params.handle, references=references, unloaded=unloaded)


@handlers.method("model/list")
def list_models(params: ListParams, ctx: RequestContext) -> ListResult:
    """The loaded models, oldest first."""
    from worker.models.registry import ModelRegistry

    registry = ctx.state.existing_service(ModelRegistry)
    loaded = registry.list() if registry is not None else []
    models = [
        ModelInfo(
            handle=m.handle,
            task=m.task.task_name,
            model=m.name,
            device=str(m.prepared.device),
            dtype=m.precision.chosen,
            parameters=m.parameters,
            memory_bytes=m.memory_bytes,
            references=m.references,
            source=m.prepared.source.origin,
            path=str(m.prepared.source.path),
            batching=_batching(m),
            batches_run=m.batcher.stats.batches if m.batcher is not None else 0,
            loaded_at=round(m.loaded_at, 3),
            precision=m.precision,
            backend=m.prepared.backend,
        )
        for m in loaded
    ]
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    return ListResult(models=models, memory_bytes=sum(m.memory_bytes for m in models), torch_threads=threads)


def _onnx(loaded: Any) -> Any:
    from worker.models.onnx.backend import info_of

    return info_of(loaded.task)


def _batching(loaded: Any) -> Batching | None:
    if loaded.batcher is None:
        return None
    settings = loaded.batcher.settings
    return Batching(max_batch_size=settings.max_batch_size, max_delay_ms=settings.max_delay_ms)
