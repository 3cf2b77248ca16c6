"""A small synchronous Python client for a worker process: start it, call methods, stream progress.

For examples, tests and benchmarks (the real host is the C# library). It speaks the default wire:
4-byte big-endian length + MessagePack (or JSON), over the child's stdin/stdout. Calls may be made
from many threads at once; a reader thread routes each response to its caller and each
``$/progress`` to the callback registered for its token.

    with WorkerClient() as worker:
        model = worker.call("model/load", {"model": "sentence-transformers/all-MiniLM-L6-v2"})
        vectors = worker.call("model/run", {"handle": model["handle"], "inputs": ["hello"]})
"""

from __future__ import annotations

import itertools
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any, Literal

import msgspec

_HEADER = struct.Struct(">I")


class WorkerCallError(Exception):
    """The worker answered a call with an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.code: int = int(error.get("code", 0))
        self.message: str = str(error.get("message", ""))
        self.data: Any = error.get("data")
        super().__init__(f"{method} failed ({self.code}): {self.message}")


class WorkerExited(Exception):
    """The worker process ended (or closed its output) before answering."""


class _Call:
    def __init__(self, method: str, on_progress: Callable[[Any], None] | None) -> None:
        self.method = method
        self.on_progress = on_progress
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None


class WorkerClient:
    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        encoding: Literal["msgpack", "json"] = "msgpack",
        env: dict[str, str] | None = None,
        stderr: IO[Any] | int | None = None,
        python: str = sys.executable,
        ready_timeout: float = 60.0,
    ) -> None:
        """Start ``python -m worker`` with ``args``; stderr (the worker's log) goes to ``stderr``
        (inherited by default)."""
        codec: Any = msgspec.msgpack if encoding == "msgpack" else msgspec.json
        self._encoder = codec.Encoder()
        self._decoder = codec.Decoder()
        self._write_lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self._calls_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._exited = threading.Event()
        self._ready = threading.Event()
        self.ready: dict[str, Any] = {}
        self.notifications: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [python, "-m", "worker", "--framing", "length", "--encoding", encoding, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read_loop, name="worker-client-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(ready_timeout) or not self.ready:
            self.close(timeout=1)
            raise WorkerExited(f"the worker sent no worker/ready within {ready_timeout} s")

    # ---- calls ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        params: Any = None,
        *,
        on_progress: Callable[[Any], None] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` and return its result; raise WorkerCallError for an error response.
        With ``on_progress`` a progressToken is sent and each ``$/progress`` value is passed to it."""
        return self.result(self.send(method, params, on_progress=on_progress), timeout=timeout)

    def send(
        self, method: str, params: Any = None, *, on_progress: Callable[[Any], None] | None = None
    ) -> int:
        """Send a request without waiting; returns its id for ``result`` or ``cancel``."""
        call_id = next(self._ids)
        if on_progress is not None:
            params = {**(params or {}), "progressToken": call_id}
        call = _Call(method, on_progress)
        with self._calls_lock:
            self._calls[call_id] = call
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)
        return call_id

    def result(self, call_id: int, *, timeout: float | None = None) -> Any:
        with self._calls_lock:
            call = self._calls[call_id]
        if not call.done.wait(timeout):
            raise TimeoutError(f"{call.method} (id {call_id}) not answered within {timeout} s")
        with self._calls_lock:
            self._calls.pop(call_id, None)
        response = call.response
        if response is None:
            raise WorkerExited(f"the worker exited before answering {call.method} (id {call_id})")
        if "error" in response:
            raise WorkerCallError(call.method, response["error"])
        return response.get("result")

    def cancel(self, call_id: int) -> None:
        """Send ``$/cancelRequest`` for a call sent with ``send``."""
        self.notify("$/cancelRequest", {"id": call_id})

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)

    # ---- life cycle -------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> int | None:
        """Close the worker's input (it finishes what is in flight and exits); kill it if it does
        not exit within ``timeout``. Returns the exit code."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        # The reader sees end of file once the process is gone; then its pipe can be closed.
        self._reader.join(5)
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()
        return code

    def __enter__(self) -> WorkerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- wire -------------------------------------------------------------------------------

    def _write(self, message: Any) -> None:
        payload = self._encoder.encode(message)
        stdin = self.process.stdin
        assert stdin is not None
        with self._write_lock:
            try:
                stdin.write(_HEADER.pack(len(payload)) + payload)
                stdin.flush()
            except (BrokenPipeError, ValueError):
                raise WorkerExited("the worker's input is closed") from None

    def _read_loop(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                header = stdout.read(4)
                if len(header) < 4:
                    return
                (size,) = _HEADER.unpack(header)
                payload = stdout.read(size)
                if len(payload) < size:
                    return
                self._dispatch(self._decoder.decode(payload))
        finally:
            self._exited.set()
            self._ready.set()
            with self._calls_lock:
                pending = list(self._calls.values())
            for call in pending:
                call.done.set()

    def _dispatch(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            method = item.get("method")
            if method == "worker/ready":
                self.ready = item.get("params") or {}
                self._ready.set()
            elif method == "$/progress":
                token = (item.get("params") or {}).get("token")
                with self._calls_lock:
                    call = self._calls.get(token) if isinstance(token, int) else None
                if call is not None and call.on_progress is not None:
                    call.on_progress(item["params"].get("value"))
            elif method is not None:
                self.notifications.append(item)
            else:
                with self._calls_lock:
                    call = self._calls.get(item.get("id"))
                if call is not None:
                    call.response = item
                    call.done.set()
