"""Worker-wide state shared by handlers: configuration, counters, and lazily built services.

Services (the model registry, the tensor store, ...) are created on first use with
``state.service(ModelRegistry)``, so nothing heavy is built, or imported, before a method needs it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from worker.config import Config

S = TypeVar("S")


class WorkerState:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.pid = os.getpid()
        self.started_monotonic = time.monotonic()
        self.stop_requested: Callable[[str, int], None] = lambda reason, code: None
        # Drop answers still waiting to be written this many seconds from now (the worker is stopping
        # and the host may not read); set by the Worker to its writer's give_up_after.
        self.give_up_writes_after: Callable[[float], None] = lambda seconds: None
        # The Dispatcher, set once it exists (worker/info and worker/shutdown read it).
        self.dispatcher: Any = None
        self._services: dict[type, Any] = {}
        self._lock = threading.Lock()

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    def service(self, cls: type[S]) -> S:
        """The single instance of ``cls`` for this worker, built as ``cls(self)`` on first use."""
        found = self._services.get(cls)
        if found is None:
            with self._lock:
                found = self._services.get(cls)
                if found is None:
                    found = cls(self)  # type: ignore[call-arg]
                    self._services[cls] = found
        return found  # type: ignore[no-any-return]

    def existing_service(self, cls: type[S]) -> S | None:
        """The instance of ``cls`` if one was built, without building it."""
        return self._services.get(cls)
