"""An in-memory worker for protocol tests: a real Dispatcher whose ``send`` lands in an Outbox.

What the dispatcher sends is encoded with the worker's codec (as the writer does) and decoded back
with independent libraries (``json``, ``msgpack``), so tests compare plain data with what a client
would read.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import msgpack

from worker.config import Config
from worker.handlers import core
from worker.rpc.codec import Codec
from worker.runtime.dispatch import Dispatcher
from worker.runtime.registry import Handlers, merge
from worker.runtime.state import WorkerState


class Outbox:
    """Everything the dispatcher sent, in order, as plain data."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._cond = threading.Condition()
        self.sent: list[Any] = []

    def send(self, message: Any) -> None:
        if isinstance(message, list):
            payload = self._codec.join_array([self._codec.encode(m) for m in message])
        else:
            payload = self._codec.encode(message)
        plain = json.loads(payload) if self._codec.encoding == "json" else msgpack.unpackb(payload, raw=False)
        with self._cond:
            self.sent.append(plain)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.sent:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not sent within {timeout}s; sent so far: {self.sent}")
                self._cond.wait(remaining)

    def response(self, id: Any, timeout: float = 5.0) -> dict[str, Any]:
        return self.wait_for(
            lambda m: isinstance(m, dict) and "method" not in m and m.get("id") == id, timeout
        )

    def responses_to(self, id: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.sent if isinstance(m, dict) and "method" not in m and m.get("id") == id]

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self.sent)


class MemoryWorker:
    """A Dispatcher with the core methods and the given families, fed frames directly."""

    def __init__(self, *families: Handlers, encoding: str = "json", **config: Any) -> None:
        self.config = Config(encoding=encoding, **config)  # type: ignore[arg-type]
        self.codec = Codec(self.config.encoding)
        self.outbox = Outbox(self.codec)
        self.state = WorkerState(self.config)
        self.stops: list[tuple[str, int]] = []
        self.state.stop_requested = lambda reason, code: self.stops.append((reason, code))
        self.dispatcher = Dispatcher(
            methods=merge([core.handlers, *families]),
            codec=self.codec,
            send=self.outbox.send,
            config=self.config,
            state=self.state,
        )
        self.state.dispatcher = self.dispatcher

    def encode(self, message: Any) -> bytes:
        if self.config.encoding == "json":
            return json.dumps(message).encode()
        return msgpack.packb(message, use_bin_type=True)

    def feed(self, message: Any) -> None:
        """Hand one frame (a message or a batch, as plain data) to the dispatcher, as the reader does."""
        self.dispatcher.handle_frame(self.encode(message))

    def call(self, method: str, params: Any = None, *, id: Any = 1, timeout: float = 5.0) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        self.feed(message)
        return self.outbox.response(id, timeout)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until nothing is in flight and no handler runs (so every response that will come has come)."""
        deadline = time.monotonic() + timeout
        while self.dispatcher.inflight or self.dispatcher.running_handlers:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"still busy after {timeout}s: {self.dispatcher.inflight} in flight, "
                    f"{self.dispatcher.running_handlers} running"
                )
            time.sleep(0.002)

    def close(self) -> None:
        # Waits for queued work too (notifications included); tests release any handler they block.
        self.dispatcher._executor.shutdown(wait=True)
