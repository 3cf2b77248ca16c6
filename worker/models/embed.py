"""Sentence embeddings as arrays, for services other than model/run (tensor/search's text queries)."""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.errors import UnsupportedTask
from worker.models.inputs.sources import TEXT_ONLY
from worker.models.inputs.spec import InputObject
from worker.models.registry import ModelRegistry
from worker.models.running import infer
from worker.runtime.context import RequestContext


def embed_texts(state: Any, handle: str, texts: list[str], ctx: RequestContext | None = None) -> np.ndarray:
    """float32 [len(texts), dim]: ``texts`` embedded by the sentence-embeddings model ``handle``,
    pooled and normalised as its sentence-transformers config says (through its batcher, so
    concurrent queries coalesce with model/run calls). UnknownHandle for a bad handle."""
    from worker.models.tasks.embeddings import SentenceEmbeddings

    loaded = state.service(ModelRegistry).get(handle)
    task = loaded.task
    if not isinstance(task, SentenceEmbeddings):
        raise UnsupportedTask(
            f"model {handle!r} runs {task.task_name}; text queries need a model loaded with task "
            "'sentence-embeddings'"
        )
    params = task.validate({})
    items = [task.load_input(InputObject(text=text), TEXT_ONLY) for text in texts]
    if not items:
        return np.zeros((0, task.dimension), dtype=np.float32)
    loaded.enter()
    try:
        outputs = infer(loaded, items, params, ctx)
    finally:
        loaded.exit()
    return np.stack(outputs).astype(np.float32, copy=False)
