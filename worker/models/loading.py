"""From a model/load request to a ready Task: find the files, settle task, device and dtype, apply
the trust_remote_code policy, check memory, build, and (for dtype "auto") check whether the model
keeps its answers in 16 bits (worker.models.precision). With ``backend: "onnxruntime"`` the task is
built with torch in float32 and its forward pass then handed to onnxruntime (worker.models.onnx).

Nothing is allocated before ``memory.check_fits`` has compared the size the config implies with
the memory available. Each stage is reported (``$/progress`` when the client asked for it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.config import Config
from worker.errors import Forbidden, InvalidParams, ModelNotFound, UnsupportedTask
from worker.models import devices, memory, precision, runtime, sources, tasks
from worker.models.onnx import TASKS as ONNX_TASKS
from worker.models.onnx import OnnxSettings
from worker.models.tasks.base import LoadContext, Task

log = logging.getLogger("worker.models")

# Options that are ours to decide, not the client's to pass through.
_RESERVED_OPTIONS = {"dtype", "torch_dtype", "device", "revision"}
# Where a model lives and what memory and files it may use are the worker's to decide: it checks memory
# before loading (worker.models.memory) and writes nowhere but its cache. These would place the model
# across devices or disk, or write weights into any folder the client names.
_PLACEMENT_OPTIONS = {
    "device_map",
    "max_memory",
    "offload_folder",
    "offload_state_dict",
    "offload_buffers",
    "cache_dir",
    "tp_plan",
    "tp_size",
    "distributed_config",
}


@dataclass(frozen=True)
class LoadRequest:
    model: str
    task: str | None = None
    revision: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    options: tuple[tuple[str, Any], ...] = ()
    backend: str = "torch"  # or "onnxruntime"
    quantize: str | None = None  # "int8", onnxruntime only
    opset: int | None = None  # of a new ONNX export; None: worker.models.onnx.DEFAULT_OPSET

    @property
    def options_dict(self) -> dict[str, Any]:
        return dict(self.options)


@dataclass(frozen=True)
class Prepared:
    """A request with everything settled that decides whether two loads are the same model."""

    source: sources.ModelSource
    task: str
    device: Any
    plan: precision.Plan
    config: Any
    options: dict[str, Any]
    trust_remote_code: bool
    onnx: OnnxSettings | None = None  # set for backend "onnxruntime"

    @property
    def backend(self) -> str:
        return "torch" if self.onnx is None else "onnxruntime"

    @property
    def dtype(self) -> Any:
        """The dtype the weights are loaded in (float32 while a 16-bit check is pending)."""
        return self.plan.dtype

    @property
    def key(self) -> str:
        # An "auto" load that a check decides is its own identity: the outcome is known only after loading.
        return json.dumps(
            [
                str(self.source.path),
                self.task,
                str(self.device),
                self.plan.identity,
                self.options,
                self.backend,
                None if self.onnx is None else [self.onnx.opset, self.onnx.quantize],
            ],
            sort_keys=True,
            default=str,
        )


def prepare(request: LoadRequest, config: Config, report: Callable[[str], None]) -> Prepared:
    options = request.options_dict
    reserved = sorted(_RESERVED_OPTIONS & options.keys())
    if reserved:
        raise InvalidParams(f"options {reserved} are set by model/load's own parameters, not through options")
    placement = sorted(_PLACEMENT_OPTIONS & options.keys())
    if placement:
        raise InvalidParams(
            f"options {placement} are refused: the worker places models and decides what memory "
            "and files they use"
        )
    trust = bool(options.pop("trust_remote_code", False))
    if trust and not config.trust_remote_code:
        raise Forbidden("trust_remote_code is refused: start the worker with --trust-remote-code to allow it")
    if not trust:
        _refuse_hub_kernels(options)
    _check_backend(request)
    runtime.torch(config)
    device = devices.resolve_device(request.device)
    if request.backend == "onnxruntime" and device.type != "cpu":
        raise InvalidParams(f"backend onnxruntime runs on the CPU; device {request.device!r} is {device}")
    report("resolving")
    token = options.get("token")
    source = sources.resolve(
        request.model,
        revision=request.revision,
        token=token,
        report=report,
        hub_timeout=config.hub_timeout_seconds,
    )
    model_config = _read_config(source, trust)
    task = tasks.settle_task(request.task, source.path, model_config)
    if request.backend == "onnxruntime":
        if task not in ONNX_TASKS:
            raise UnsupportedTask(f"backend onnxruntime does not run {task}; it runs {', '.join(ONNX_TASKS)}")
        plan = precision.Plan(runtime.torch().float32, _onnx_reason(request.quantize))
        return Prepared(
            source, task, device, plan, model_config, options, trust, onnx_settings(config, request)
        )
    plan = precision.plan(
        request.dtype,
        device,
        tasks.task_class(task),
        getattr(model_config, "dtype", None),
        config.native_bf16,
    )
    return Prepared(source, task, device, plan, model_config, options, trust)


def _refuse_hub_kernels(options: dict[str, Any]) -> None:
    """Kernels from the Hub are code transformers downloads and runs: an ``attn_implementation`` naming a
    repository (``owner/repo``, alone or per sub-model in a dict), ``use_kernels`` / ``kernel_config``, and,
    where the ``kernels`` package is installed, ``flash_attention_*``, which then falls back to the Hub."""
    attention = options.get("attn_implementation")
    names = [
        n for n in (attention.values() if isinstance(attention, dict) else [attention]) if isinstance(n, str)
    ]
    named = [n for n in names if "/" in n]
    flash = [n for n in names if n.startswith("flash_attention")]
    if not named and flash:
        import importlib.util

        if importlib.util.find_spec("kernels") is not None:
            named = flash
    asked = [name for name in ("use_kernels", "kernel_config") if options.get(name)]
    if named or asked:
        what = f"attn_implementation {named[0]!r}" if named else f"options {asked}"
        raise Forbidden(
            f"{what} would load kernels from the Hub, which run their own code: "
            "start the worker with --trust-remote-code and pass options.trust_remote_code to allow it"
        )


def onnx_settings(config: Config, request: LoadRequest) -> OnnxSettings:
    from worker.models.onnx import DEFAULT_OPSET

    return OnnxSettings(
        cache_dir=Path(config.cache_dir or default_cache_dir()),
        # The worker's intra-op threads, as torch was set up with them (--threads, worker.models.threads).
        threads=int(runtime.torch().get_num_threads()),
        opset=request.opset or DEFAULT_OPSET,
        quantize=request.quantize,
    )


def _check_backend(request: LoadRequest) -> None:
    """What the backend takes, refused before anything is resolved or loaded."""
    if request.backend == "torch":
        if request.quantize is not None:
            raise InvalidParams("quantize needs backend onnxruntime")
        return
    if request.dtype not in ("auto", "float32"):
        raise InvalidParams(
            f"backend onnxruntime runs the float32 graph (or int8 with quantize); dtype {request.dtype!r} "
            "is for backend torch"
        )


def _onnx_reason(quantize: str | None) -> str:
    if quantize == "int8":
        return "onnxruntime runs the graph with int8 weights (dynamic quantization)"
    return "onnxruntime runs the float32 graph"


def build(prepared: Prepared, report: Callable[[str], None]) -> tuple[Task, precision.Precision]:
    """Check memory, build the task's model (the slow part), settle its precision (or backend)."""
    started = time.monotonic()
    task, lc = _load(prepared, report)
    if prepared.onnx is not None:
        task, chosen = _onto_onnxruntime(task, prepared, prepared.onnx, report)
    else:
        task_class = tasks.task_class(prepared.task)
        task, chosen = precision.settle(task, prepared.plan, reload=lambda: task_class.load(lc))
    log.info(
        "loaded %s as %s in %s in %.2f s (%s)",
        prepared.source.name,
        prepared.task,
        chosen.chosen,
        time.monotonic() - started,
        chosen.reason,
    )
    return task, chosen


def load_task(prepared: Prepared, report: Callable[[str], None]) -> Task:
    """The task as its class loads it, with torch in ``prepared.dtype``: no precision check, no backend
    (model/export's float32 model to export)."""
    return _load(prepared, report)[0]


def _load(prepared: Prepared, report: Callable[[str], None]) -> tuple[Task, LoadContext]:
    report("checking memory")
    memory.check_fits(
        prepared.source.name, prepared.source.path, prepared.config, prepared.dtype, prepared.device
    )
    lc = LoadContext(
        source=prepared.source,
        task=prepared.task,
        device=prepared.device,
        dtype=prepared.dtype,
        config=prepared.config,
        trust_remote_code=prepared.trust_remote_code,
        options=prepared.options,
        report=report,
    )
    try:
        return tasks.task_class(prepared.task).load(lc), lc
    except (OSError, ValueError) as exc:
        raise _explain_load_failure(prepared, exc) from exc


def _onto_onnxruntime(
    task: Task, prepared: Prepared, settings: OnnxSettings, report: Callable[[str], None]
) -> tuple[Task, precision.Precision]:
    from worker.models.onnx import backend

    try:
        backend.attach(task, prepared.source.path, prepared.options, settings, report)
    except BaseException:
        task.release()
        raise
    chosen = "int8" if settings.quantize == "int8" else "float32"
    return task, precision.Precision(chosen=chosen, reason=prepared.plan.reason)


def default_cache_dir() -> str:
    """Where exported ONNX graphs are kept without --cache-dir: under the HuggingFace home."""
    from huggingface_hub import constants

    return str(Path(constants.HF_HOME) / "hf-worker" / "onnx")


def _read_config(source: sources.ModelSource, trust: bool) -> Any:
    from transformers import AutoConfig

    if (source.path / "model_index.json").is_file():
        return None  # a diffusers pipeline: its components have configs, the folder has none
    folder = _transformer_folder(source.path)
    if not (folder / "config.json").is_file():
        raise ModelNotFound(f"model {source.name!r}: {folder} has no config.json")
    try:
        return AutoConfig.from_pretrained(str(folder), trust_remote_code=trust)
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise Forbidden(
                f"model {source.name!r} needs its own code (trust_remote_code), which this worker refuses; "
                "start the worker with --trust-remote-code and pass options.trust_remote_code to allow it"
            ) from None
        raise UnsupportedTask(f"model {source.name!r}: unsupported configuration: {exc}") from None


def _transformer_folder(folder: Path) -> Path:
    """The folder with config.json: the root, or a sentence-transformers Transformer module's path."""
    if (folder / "config.json").is_file() or not (folder / "modules.json").is_file():
        return folder
    for module in json.loads((folder / "modules.json").read_text(encoding="utf-8")):
        if str(module.get("type", "")).endswith("Transformer"):
            return folder / module.get("path", "")
    return folder


def _explain_load_failure(prepared: Prepared, exc: Exception) -> Exception:
    message = str(exc)
    if "trust_remote_code" in message:
        return Forbidden(
            f"model {prepared.source.name!r} needs trust_remote_code, which is refused: {message}"
        )
    if isinstance(exc, OSError):
        return ModelNotFound(f"model {prepared.source.name!r} could not be loaded: {message}")
    return UnsupportedTask(f"model {prepared.source.name!r} cannot be loaded for {prepared.task}: {message}")
