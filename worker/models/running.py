"""model/run end to end: one Task's life cycle (validate, load inputs, infer, shape), through the
model's dynamic batcher when it has one, and ``keep: true`` (outputs left in the worker as tensors)."""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.errors import InvalidParams, ResourceExhausted
from worker.models.batching import DEFAULT_MAX_BATCH_SIZE
from worker.models.inputs.size import decoded_bytes
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import Input, as_object
from worker.models.registry import LoadedModel, ModelRegistry
from worker.models.tasks.base import Task
from worker.runtime.context import RequestContext
from worker.runtime.state import WorkerState


def run(
    state: WorkerState,
    handle: str,
    inputs: Input | list[Input],
    parameters: dict[str, Any],
    keep: bool,
    ctx: RequestContext | None,
) -> Any:
    loaded = state.service(ModelRegistry).get(handle)
    task = loaded.task
    params = task.validate(parameters)
    is_batch = isinstance(inputs, list)
    values = inputs if isinstance(inputs, list) else [inputs]
    if not values:
        raise InvalidParams("inputs is an empty list")
    if keep and not task.keepable:
        raise InvalidParams(
            f"keep: true needs a task whose outputs are tensors; {task.task_name} returns values"
        )
    # Tensors, files and the operator's bounds on them (--input-root, --max-input-bytes,
    # --max-image-pixels), from the worker's config.
    sources = InputSources.for_state(state)
    params = task.resolve(params, sources)
    loaded.enter()
    try:
        items = load_inputs(task, values, sources)
        if ctx is not None:
            ctx.check_cancelled()
        outputs = infer(loaded, items, params, ctx)
    finally:
        loaded.exit()
    if keep:
        return _keep(state, task, outputs, params, is_batch)
    shaped = [task.shape(output, params) for output in outputs]
    return shaped if is_batch else shaped[0]


def load_inputs(task: Task, values: list[Input], sources: InputSources) -> list[Any]:
    """Decode a request's inputs, refusing it (-32008) as soon as they hold more than
    ``--max-request-input-bytes`` together: each is bounded on its own (--max-image-pixels,
    --max-input-bytes), but a list multiplies that, and decoding them all comes before any slice runs."""
    limit = sources.max_request_input_bytes
    items: list[Any] = []
    total = 0
    for value in values:
        item = task.load_input(as_object(value), sources)
        total += decoded_bytes(item)
        if total > limit:
            raise ResourceExhausted(
                f"the first {len(items) + 1} of this request's {len(values)} inputs take {total} bytes "
                f"decoded, over --max-request-input-bytes ({limit}); send them in several calls",
                data={"decoded_bytes": total, "inputs": len(values), "max_request_input_bytes": limit},
            )
        items.append(item)
    return items


def infer(loaded: LoadedModel, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
    """Run loaded inputs, coalesced with other callers' when the model has a batcher. The caller
    holds the model (``loaded.enter()``) so that an unload cannot free it mid-run.

    A long list for a batched task runs in slices of ``max_batch_size`` inputs, one after the other:
    a forward pass's memory grows with the inputs in it (5,000 long texts in one pass took 4.5 GB), a
    slice's does not grow with the list. Other tasks run their inputs one at a time already (and
    number progress reports by position in the whole list), so they get the list whole."""
    task = loaded.task
    batcher = loaded.batcher
    if not task.batchable:
        size = len(items)
    else:
        size = batcher.settings.max_batch_size if batcher is not None else DEFAULT_MAX_BATCH_SIZE
    outputs: list[Any] = []
    for start in range(0, len(items), max(1, size)):
        if ctx is not None and start > 0:
            ctx.check_cancelled()
        chunk = items[start : start + size]
        if batcher is not None:
            outputs.extend(batcher.submit(chunk, params, task.batch_key(params), ctx))
        else:
            outputs.extend(task.infer(chunk, params, ctx))
    return outputs


def _keep(state: WorkerState, task: Task, outputs: list[Any], params: Any, is_batch: bool) -> Any:
    """One tensor for one input; for a batch of equal-length vectors one [n, dim] matrix (a corpus
    for tensor/search), otherwise one tensor per input. A task that keeps its outputs its own way
    (Task.keep) gives one result per input instead."""
    from worker.tensors.store import TensorStore

    store = state.service(TensorStore)
    own = task.keep(store, outputs, params)
    if own is not None:
        return own if is_batch else own[0]
    arrays = [np.asarray(output) for output in outputs]
    if not is_batch:
        return store.put_array(arrays[0], copy=False)
    if all(a.ndim == 1 for a in arrays) and len({a.shape for a in arrays}) == 1:
        # Refused before the stacked copy is made, not after (the store checks again as it keeps it).
        store.check_room(sum(a.nbytes for a in arrays))
        return store.put_array(np.stack(arrays), copy=False)
    # All or nothing: a refusal must not leave some outputs kept under handles nobody was told.
    return store.put_arrays(arrays, copy=False)
