"""A lean client for the real worker process, for timing: length framing, MessagePack or JSON, over
stdio or the pipe transport (a Unix socket named as .NET names it, with the benchmark as the server).

Single-threaded on purpose: a request is encoded and written, and responses are read in the same
thread, so a timed round trip has no thread hand-offs on the client side. ``pipeline`` keeps a fixed
number of requests in flight (send one each time one is answered).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[2]


# Variables this benchmark process set for itself (bench/run.py) that a worker must not inherit: the
# worker chooses them, and worker/info must say so.
NOT_INHERITED: set[str] = set()


class WorkerFailed(Exception):
    pass


class BenchWorker:
    def __init__(
        self,
        transport: str = "stdio",
        encoding: str = "msgpack",
        args: Sequence[str] = (),
        ready_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.transport = transport
        self.encoding = encoding
        codec: Any = msgspec.msgpack if encoding == "msgpack" else msgspec.json
        self._encode = codec.Encoder().encode
        self._decode = codec.Decoder().decode
        self._next_id = 0
        self._tmpdir = tempfile.mkdtemp(prefix="hfwb")
        cmd = [sys.executable, "-m", "worker", "--framing", "length", "--encoding", encoding, *args]
        server = None
        if transport == "pipe":
            name = f"b{uuid.uuid4().hex[:8]}"
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(os.path.join(self._tmpdir, f"CoreFxPipe_{name}"))
            server.listen(1)
            server.settimeout(ready_timeout)
            cmd += ["--pipe", name]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if transport == "stdio" else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={
                **{k: v for k, v in os.environ.items() if k not in NOT_INHERITED},
                **(env or {}),
                "TMPDIR": self._tmpdir,
            },
        )
        self._sock: socket.socket | None = None
        if server is not None:
            try:
                self._sock, _ = server.accept()
            finally:
                server.close()
            self._sock.settimeout(None)
            self._reader: Any = self._sock.makefile("rb", buffering=1 << 16)
            self._write: Callable[[bytes], Any] = self._sock.sendall
        else:
            assert self.proc.stdout is not None and self.proc.stdin is not None
            self._reader = self.proc.stdout
            fd = self.proc.stdin.fileno()
            self._write = lambda data: _write_all(fd, data)
        self.ready = self._decode(self._read_frame())
        self.ready_seconds = time.perf_counter() - self.started
        if self.ready.get("method") != "worker/ready":
            raise WorkerFailed(f"first frame was not worker/ready: {self.ready}")

    # ---- frames ---------------------------------------------------------------------------

    def _read_frame(self) -> bytes:
        header = self._reader.read(4)
        if len(header) < 4:
            raise WorkerFailed(f"the worker closed its output (exit code {self.proc.poll()})")
        size = int.from_bytes(header, "big")
        payload = self._reader.read(size)
        if len(payload) < size:
            raise WorkerFailed("the worker closed its output inside a frame")
        return payload  # type: ignore[no-any-return]

    def send(self, method: str, params: Any = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        payload = self._encode(message)
        self._write(len(payload).to_bytes(4, "big") + payload)
        return self._next_id

    def receive(self) -> dict[str, Any]:
        """The next response (notifications such as $/progress are skipped)."""
        while True:
            message = self._decode(self._read_frame())
            if "id" in message:
                return message  # type: ignore[no-any-return]

    def call(self, method: str, params: Any = None) -> Any:
        sent = self.send(method, params)
        response = self.receive()
        if response.get("id") != sent:
            raise WorkerFailed(f"expected the answer to {sent}, got {response}")
        if "error" in response:
            raise WorkerFailed(f"{method} failed: {response['error']}")
        return response["result"]

    # ---- measurements ---------------------------------------------------------------------

    def round_trips(self, method: str, params: Any, calls: int) -> list[float]:
        """Seconds per sequential call (one in flight)."""
        times = []
        clock = time.perf_counter
        for _ in range(calls):
            start = clock()
            self.call(method, params)
            times.append(clock() - start)
        return times

    def pipeline(self, method: str, params_for: Callable[[int], Any], calls: int, window: int) -> float:
        """Seconds to complete ``calls`` requests with ``window`` in flight; every answer checked."""
        start = time.perf_counter()
        sent = answered = 0
        while sent < min(window, calls):
            self.send(method, params_for(sent))
            sent += 1
        while answered < calls:
            response = self.receive()
            if "error" in response:
                raise WorkerFailed(f"{method} failed under load: {response['error']}")
            answered += 1
            if sent < calls:
                self.send(method, params_for(sent))
                sent += 1
        return time.perf_counter() - start

    def rss_bytes(self) -> int:
        return int(self.call("worker/info")["rss_bytes"])

    def close(self) -> None:
        try:
            if self._sock is not None:
                # The reader made by makefile() keeps the socket open after close(): shut it down so
                # that the worker sees the end of its input now.
                self._sock.shutdown(socket.SHUT_RDWR)
                self._reader.close()
                self._sock.close()
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> BenchWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
