"""Dynamic batching: concurrent model/run calls on one model coalesced into one forward pass.

Each batchable model gets one batcher with its own thread. A request's handler thread decodes its
inputs, submits them, and waits. The batcher thread takes the oldest request and every queued
request with the same parameters, up to ``max_batch_size`` inputs, waiting at most
``max_delay_ms`` after the oldest arrived for more to come; while a batch runs, the next one
gathers by itself, so under load there is no waiting at all. Each caller gets exactly the outputs
of its own inputs.

The wait is skipped when no other call can join: when every request the worker has read and not yet
answered is already queued here, the next one has not even been read, so waiting would only delay a client
that sends one request at a time (5 ms on a 10 ms forward pass). A pipelined client's first
request may then run alone; the others gather while it runs.

Cancellation: a request cancelled while queued is dropped before it runs; one cancelled while its
batch runs simply never reads its outputs. Neither disturbs the other requests in the batch. If a
coalesced batch fails, each of its requests is run again on its own, so one bad input fails only
its own request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.errors import RequestCancelled, ShuttingDown
from worker.runtime.context import RequestContext

log = logging.getLogger("worker.batching")

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_DELAY_MS = 5.0
# How often a waiting caller looks at its cancellation flag itself. Rarely: the batcher also wakes
# callers it drops for cancellation, and dozens of threads waking often would take the GIL from
# the thread running the forward pass.
_CANCEL_POLL_SECONDS = 0.5

Infer = Callable[[list[Any], Any], list[Any]]


@dataclass(frozen=True)
class BatchingSettings:
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS


@dataclass
class _Pending:
    items: list[Any]
    params: Any
    key: bytes
    arrived: float
    ctx: RequestContext | None
    done: threading.Event = field(default_factory=threading.Event)
    outputs: list[Any] | None = None
    error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return self.ctx is not None and self.ctx.cancelled


@dataclass
class BatcherStats:
    batches: int = 0
    items: int = 0
    largest: int = 0
    requests: int = 0


class DynamicBatcher:
    def __init__(
        self,
        name: str,
        infer: Infer,
        settings: BatchingSettings,
        requests_in_flight: Callable[[], int | None] | None = None,
    ) -> None:
        """``requests_in_flight``: how many requests the worker has read and not yet answered (None
        when unknown); without it the batcher always waits up to ``max_delay_ms`` for company."""
        self.name = name
        self.settings = settings
        self._infer = infer
        self._requests_in_flight = requests_in_flight
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.stats = BatcherStats()

    # ---- callers ----------------------------------------------------------------------------

    def submit(self, items: list[Any], params: Any, key: bytes, ctx: RequestContext | None) -> list[Any]:
        """Run ``items`` (possibly together with other callers' items) and return their outputs."""
        pending = _Pending(items, params, key, time.monotonic(), ctx)
        with self._cond:
            if self._closed:
                raise ShuttingDown(f"model {self.name} is being unloaded")
            self._ensure_thread()
            self._queue.append(pending)
            self._cond.notify_all()
        while not pending.done.wait(_CANCEL_POLL_SECONDS):
            if pending.cancelled:
                raise RequestCancelled()
        if pending.error is not None:
            raise pending.error
        assert pending.outputs is not None
        return pending.outputs

    @property
    def queued(self) -> int:
        """Requests waiting for a forward pass (a cancelled one counts until the batcher drops it)."""
        with self._cond:
            return len(self._queue)

    def close(self) -> None:
        """Stop after the queued requests have run."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- the batcher thread -----------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"batcher-{self.name}", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[_Pending] | None:
        max_size = self.settings.max_batch_size
        with self._cond:
            while True:
                self._drop_cancelled()
                if self._queue:
                    break
                if self._closed:
                    return None
                self._cond.wait()
            first = self._queue[0]
            deadline = first.arrived + self.settings.max_delay_ms / 1000.0
            while self._gathered(first.key) < max_size and not self._closed and self._others_may_come():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[_Pending] = []
            size = 0
            for pending in list(self._queue):
                if pending.key != first.key or pending.cancelled:
                    continue
                if batch and size + len(pending.items) > max_size:
                    break
                batch.append(pending)
                size += len(pending.items)
            for pending in batch:
                self._queue.remove(pending)
            return batch

    def _others_may_come(self) -> bool:
        """False when every request the worker has read and not yet answered is already in this queue."""
        if self._requests_in_flight is None:
            return True
        in_flight = self._requests_in_flight()
        return in_flight is None or in_flight > len(self._queue)

    def _gathered(self, key: bytes) -> int:
        return sum(len(p.items) for p in self._queue if p.key == key)

    def _drop_cancelled(self) -> None:
        for pending in [p for p in self._queue if p.cancelled]:
            self._queue.remove(pending)
            pending.error = RequestCancelled()
            pending.done.set()

    def _run(self, batch: list[_Pending]) -> None:
        items = [item for pending in batch for item in pending.items]
        try:
            outputs = self._infer(items, batch[0].params)
            if len(outputs) != len(items):
                raise RuntimeError(f"{len(outputs)} outputs for {len(items)} inputs")
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            log.info("a batch of %d requests failed (%s); running them one by one", len(batch), exc)
            for pending in batch:
                self._run([pending])
            return
        self.stats.batches += 1
        self.stats.items += len(items)
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(items))
        start = 0
        for pending in batch:
            pending.outputs = outputs[start : start + len(pending.items)]
            start += len(pending.items)
            pending.done.set()
