"""Loaded models by handle, reference counted.

Loading the same model with the same settings (folder, task, device, dtype, options) again returns
the same handle with one more reference instead of a second copy; model/unload drops a reference
and frees the model with the last one (or, if runs are still using it, when the last of them ends).
Batching settings are not part of a model's identity: a repeated load that names them changes them
for the handle. Two concurrent loads of the same model load it once: the second waits for the
first. One registry per worker: ``state.service(ModelRegistry)``.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.errors import UnknownHandle
from worker.models import loading, memory
from worker.models.batching import BatchingSettings, DynamicBatcher
from worker.models.precision import Precision
from worker.models.tasks.base import Task

log = logging.getLogger("worker.models")


@dataclass
class LoadedModel:
    handle: str
    key: str
    prepared: loading.Prepared
    task: Task
    parameters: int
    memory_bytes: int
    load_seconds: float
    batcher: DynamicBatcher | None
    precision: Precision  # the dtype it runs in and why
    references: int = 1
    loaded_at: float = field(default_factory=time.time)
    # Runs in progress, and whether the model was unloaded while they ran: the last one frees it.
    active: int = 0
    retired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.prepared.source.name

    def enter(self) -> None:
        """A run starts using the model (UnknownHandle if it was unloaded meanwhile)."""
        with self._lock:
            if self.retired:
                raise UnknownHandle(f"model handle {self.handle!r} was unloaded")
            self.active += 1

    def exit(self) -> None:
        with self._lock:
            self.active -= 1
            release = self.retired and self.active == 0
        if release:
            self._release()

    def retire(self) -> None:
        """Unloaded: free the model now, or when the last run still using it ends."""
        with self._lock:
            self.retired = True
            release = self.active == 0
        if release:
            self._release()

    def _release(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self.task.release()
        _free_memory()
        log.info("freed %s (%s)", self.handle, self.name)


@dataclass
class LoadOutcome:
    model: LoadedModel
    reused: bool


class ModelRegistry:
    def __init__(self, state: Any) -> None:
        self._state = state
        self._lock = threading.Lock()
        self._by_handle: dict[str, LoadedModel] = {}
        self._by_key: dict[str, LoadedModel] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._numbers = itertools.count(1)
        self._issued = 0

    def load(
        self,
        request: loading.LoadRequest,
        batching: BatchingSettings | None,
        report: Callable[[str], None],
    ) -> LoadOutcome:
        prepared = loading.prepare(request, self._state.config, report)
        key = prepared.key
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                existing = self._by_key.get(key)
                if existing is not None:
                    existing.references += 1
                    if batching is not None:
                        self._reconfigure(existing, batching)
                    return LoadOutcome(existing, reused=True)
            started = time.monotonic()
            task, precision = loading.build(prepared, report)
            count, size = memory.measure(task.module) if task.module is not None else (0, 0)
            with self._lock:
                number = next(self._numbers)
                self._issued = number
                handle = f"m-{number}"
                batcher = self._batcher_for(task, handle, batching)
                loaded = LoadedModel(
                    handle, key, prepared, task, count, size, time.monotonic() - started, batcher, precision
                )
                self._by_handle[handle] = loaded
                self._by_key[key] = loaded
        return LoadOutcome(loaded, reused=False)

    def get(self, handle: str) -> LoadedModel:
        with self._lock:
            found = self._by_handle.get(handle)
            issued = self._issued
        if found is None:
            raise UnknownHandle(_unknown_message(handle, issued))
        return found

    def unload(self, handle: str) -> tuple[int, bool]:
        """Drop one reference: (references left, whether the model was freed)."""
        with self._lock:
            found = self._by_handle.get(handle)
            if found is None:
                raise UnknownHandle(_unknown_message(handle, self._issued))
            found.references -= 1
            if found.references > 0:
                return found.references, False
            del self._by_handle[handle]
            del self._by_key[found.key]
        found.retire()
        return 0, True

    def list(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._by_handle.values())

    def _reconfigure(self, loaded: LoadedModel, settings: BatchingSettings) -> None:
        """A repeated load that names batching settings changes them for every user of the handle."""
        if loaded.batcher is not None and settings.max_batch_size > 1:
            loaded.batcher.settings = settings
            return
        if loaded.batcher is not None:
            loaded.batcher.close()
        loaded.batcher = self._batcher_for(loaded.task, loaded.handle, settings)

    def _batcher_for(
        self, task: Task, handle: str, settings: BatchingSettings | None
    ) -> DynamicBatcher | None:
        if not task.batchable:
            return None
        settings = settings or BatchingSettings()
        if settings.max_batch_size <= 1:
            return None
        return DynamicBatcher(handle, task.infer_batch, settings, requests_in_flight=self._requests_in_flight)

    def _requests_in_flight(self) -> int | None:
        """Requests the worker has read and not yet answered; None without a dispatcher (in tests)."""
        dispatcher = self._state.dispatcher
        return None if dispatcher is None else int(dispatcher.unanswered)


def _free_memory() -> None:
    gc.collect()
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _unknown_message(handle: str, issued: int) -> str:
    if handle.startswith("m-") and handle[2:].isdigit() and 0 < int(handle[2:]) <= issued:
        return f"model handle {handle!r} was unloaded"
    return f"unknown model handle {handle!r}"
