"""Unloading really releases a model: nothing in the worker keeps it alive afterwards, and a run
still in progress keeps it only until that run ends. In-process, with the real registry."""

from __future__ import annotations

import gc
import weakref

import pytest

from worker.config import Config
from worker.errors import UnknownHandle
from worker.models.loading import LoadRequest
from worker.models.registry import ModelRegistry
from worker.models.running import run
from worker.runtime.state import WorkerState

pytestmark = pytest.mark.models


def test_unloading_frees_the_model_and_a_run_in_progress_delays_it(model_dir):
    state = WorkerState(Config())
    registry = state.service(ModelRegistry)
    folder = str(model_dir("sentence-embeddings"))

    loaded = registry.load(LoadRequest(model=folder), None, report=lambda stage: None).model
    handle = loaded.handle
    vectors = run(state, handle, ["one", "two"], {}, False, None)  # also starts the batcher thread
    assert len(vectors) == 2
    module = weakref.ref(loaded.task.module)
    registry.unload(handle)
    del loaded
    gc.collect()
    assert module() is None, "the unloaded model is still referenced"

    again = registry.load(LoadRequest(model=folder), None, report=lambda stage: None).model
    assert again.handle != handle
    module = weakref.ref(again.task.module)
    again.enter()  # a run in progress
    registry.unload(again.handle)
    gc.collect()
    assert module() is not None  # still in use
    with pytest.raises(UnknownHandle):
        registry.get(again.handle)
    again.exit()  # the run ends: now it goes
    del again
    gc.collect()
    assert module() is None
