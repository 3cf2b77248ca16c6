"""From a model/load request to a ready Task: find the files, settle task, device and dtype, apply
the trust_remote_code policy, check memory, build, and (for dtype "auto") check whether the model
keeps its answers in 16 bits (worker.models.precision).

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
from worker.models.tasks.base import LoadContext, Task

log = logging.getLogger("worker.models")

# Options that are ours to decide, not the client's to pass through.
_RESERVED_OPTIONS = {"dtype", "torch_dtype", "device", "revision"}


@dataclass(frozen=True)
class LoadRequest:
    model: str
    task: str | None = None
    revision: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    options: tuple[tuple[str, Any], ...] = ()

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

    @property
    def dtype(self) -> Any:
        """The dtype the weights are loaded in (float32 while a 16-bit check is pending)."""
        return self.plan.dtype

    @property
    def key(self) -> str:
        # An "auto" load that a check decides is its own identity: the outcome is known only after loading.
        return json.dumps(
            [str(self.source.path), self.task, str(self.device), self.plan.identity, self.options],
            sort_keys=True,
            default=str,
        )


def prepare(request: LoadRequest, config: Config, report: Callable[[str], None]) -> Prepared:
    options = request.options_dict
    reserved = sorted(_RESERVED_OPTIONS & options.keys())
    if reserved:
        raise InvalidParams(f"options {reserved} are set by model/load's own parameters, not through options")
    trust = bool(options.pop("trust_remote_code", False))
    if trust and not config.trust_remote_code:
        raise Forbidden("trust_remote_code is refused: start the worker with --trust-remote-code to allow it")
    runtime.torch(config)
    device = devices.resolve_device(request.device)
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
    plan = precision.plan(
        request.dtype,
        device,
        tasks.task_class(task),
        getattr(model_config, "dtype", None),
        config.native_bf16,
    )
    return Prepared(source, task, device, plan, model_config, options, trust)


def build(prepared: Prepared, report: Callable[[str], None]) -> tuple[Task, precision.Precision]:
    """Check memory, build the task's model (the slow part), settle its precision."""
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
    task_class = tasks.task_class(prepared.task)
    started = time.monotonic()
    try:
        task = task_class.load(lc)
    except (OSError, ValueError) as exc:
        raise _explain_load_failure(prepared, exc) from exc
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


def _read_config(source: sources.ModelSource, trust: bool) -> Any:
    from transformers import AutoConfig

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
