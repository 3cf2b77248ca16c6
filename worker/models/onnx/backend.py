"""A task loaded with torch in float32, turned into the same task running on onnxruntime.

On a cache miss the graph is exported, quantized if asked, and checked against torch on the task's
probe input before its entry is published; on a hit the entry's recorded figures are reported and
nothing is exported. Either way the task's module is then swapped for an ``OnnxModule`` and the
torch model is dropped with the last reference to it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from worker.errors import UnsupportedTask
from worker.models import memory
from worker.models.onnx import OnnxSettings, cache, check, graph
from worker.models.onnx.quantize import quantize_int8
from worker.models.onnx.session import OnnxModule, open_session
from worker.models.tasks.base import Task

log = logging.getLogger("worker.models")


class OnnxInfo(msgspec.Struct):
    """The ``onnx`` member of a load result: the graph a model runs and how it compared with torch."""

    path: str
    cached: bool  # found in the cache (nothing exported by this load)
    opset: int
    quantize: str | None
    exporter: str
    check: check.Check


def cache_key(
    source: Path, task: str, options: dict[str, Any], settings: OnnxSettings, quantize: str | None
) -> dict[str, Any]:
    import transformers

    passed = {name: value for name, value in options.items() if name != "token"}
    return cache.normalized(
        {
            "files": cache.files_digest(source),
            "task": task,
            "options": passed,
            "exporter": graph.exporter_name(),
            "transformers": transformers.__version__,
            "opset": settings.opset,
            "quantize": quantize,
        }
    )


def find(source: Path, task: str, options: dict[str, Any], settings: OnnxSettings) -> cache.Entry | None:
    """The ready cache entry for these settings, without loading anything."""
    return cache.lookup(settings.cache_dir, cache_key(source, task, options, settings, settings.quantize))


def ensure(
    task: Task, source: Path, options: dict[str, Any], settings: OnnxSettings, report: Callable[[str], None]
) -> tuple[cache.Entry, bool]:
    """The cache entry of ``task``'s graph (a float32 torch task), exported on a miss: (entry, cached)."""
    root = settings.cache_dir
    wanted = cache_key(source, task.task_name, options, settings, settings.quantize)
    found = cache.lookup(root, wanted)
    if found is not None:
        return found, True
    reference = task.probe()
    float_key = cache_key(source, task.task_name, options, settings, None)
    float_entry = cache.lookup(root, float_key)
    if float_entry is None:
        float_entry, built = cache.publish(
            root, float_key, lambda folder: _export(task, float_key, settings, folder, reference, report)
        )
        if settings.quantize is None:
            return float_entry, not built
    elif settings.quantize is None:
        return float_entry, True
    entry, built = cache.publish(
        root, wanted, lambda folder: _quantize(task, wanted, float_entry, settings, folder, reference, report)
    )
    return entry, not built


def attach(
    task: Task, source: Path, options: dict[str, Any], settings: OnnxSettings, report: Callable[[str], None]
) -> OnnxInfo:
    """Run ``task`` (loaded with torch in float32) on onnxruntime from now on."""
    started = time.monotonic()
    entry, cached = ensure(task, source, options, settings, report)
    report("starting onnxruntime")
    try:
        session = open_session(entry.model, settings.threads)
    except Exception as exc:
        if not cached:
            raise
        # A cached graph onnxruntime cannot read (damaged on disk with its size intact): without
        # this every later load of the model would fail the same way until the entry was removed.
        log.warning("the cached ONNX graph %s cannot be loaded (%s); exporting it again", entry.model, exc)
        cache.discard(entry)
        entry, cached = ensure(task, source, options, settings, report)
        session = open_session(entry.model, settings.threads)
    module = OnnxModule(
        session, task.task_name, entry.meta.signature, task.module.config, entry.meta.parameters, entry.model
    )
    info = OnnxInfo(
        path=str(entry.model),
        cached=cached,
        opset=entry.meta.opset,
        quantize=entry.meta.quantize,
        exporter=entry.meta.exporter,
        check=entry.meta.check,
    )
    module.info = info
    task.use_module(module)
    log.info(
        "%s runs on onnxruntime from %s (%s, %.2f s)",
        task.task_name,
        entry.model,
        "cached" if cached else "exported",
        time.monotonic() - started,
    )
    return info


def info_of(task: Task) -> OnnxInfo | None:
    """The ONNX graph a loaded task runs, or None for a task on torch."""
    module = task.module
    return module.info if isinstance(module, OnnxModule) else None


def _export(
    task: Task,
    key: dict[str, Any],
    settings: OnnxSettings,
    folder: Path,
    reference: Any,
    report: Callable[[str], None],
) -> cache.EntryMeta:
    report("exporting")
    path = folder / cache.MODEL_FILE
    signature = graph.export(task, path, settings.opset)
    report("checking")
    probed = _probe_with(task, path, signature, settings.threads)
    passed, verdict = check.acceptable(task.precision_check, reference, probed)
    if not passed:
        raise UnsupportedTask(
            f"{task.task_name}: the ONNX graph does not answer as torch does on the probe input ({verdict}); "
            "it is not kept"
        )
    parameters, _size = memory.measure(task.module)
    return _meta(
        task,
        key,
        settings,
        signature,
        check.compare(task.precision_check, reference, probed),
        parameters,
        path,
    )


def _quantize(
    task: Task,
    key: dict[str, Any],
    source: cache.Entry,
    settings: OnnxSettings,
    folder: Path,
    reference: Any,
    report: Callable[[str], None],
) -> cache.EntryMeta:
    report("quantizing")
    path = folder / cache.MODEL_FILE
    quantize_int8(source.model, path)
    report("checking")
    probed = _probe_with(task, path, source.meta.signature, settings.threads)
    figures = check.compare(task.precision_check, reference, probed)
    return _meta(task, key, settings, source.meta.signature, figures, source.meta.parameters, path)


def _meta(
    task: Task,
    key: dict[str, Any],
    settings: OnnxSettings,
    signature: graph.Signature,
    figures: check.Check,
    parameters: int,
    path: Path,
) -> cache.EntryMeta:
    return cache.EntryMeta(
        key=key,
        task=task.task_name,
        opset=settings.opset,
        quantize=key["quantize"],
        exporter=graph.exporter_name(),
        signature=signature,
        check=figures,
        parameters=parameters,
        model_bytes=path.stat().st_size,
        created=time.time(),
    )


def _probe_with(task: Task, path: Path, signature: graph.Signature, threads: int) -> Any:
    """The task's probe run by the graph at ``path`` (the torch model put back afterwards)."""
    torch_module = task.module
    session = open_session(path, threads)
    task.use_module(OnnxModule(session, task.task_name, signature, torch_module.config, 0, path))
    try:
        return task.probe()
    finally:
        task.use_module(torch_module)
