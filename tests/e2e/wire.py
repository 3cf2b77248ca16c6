"""A test client for the real worker process, over every transport, framing and encoding.

It frames and decodes with its own code and independent libraries (the ``msgpack`` package and the
standard ``json`` module, never msgspec or ``worker.rpc``), so the worker is never checked against
itself. Frames are parsed strictly: a stray byte on the protocol stream (stdout pollution) shows up
in ``protocol_errors`` instead of being skipped.

    with WorkerProcess(Wire("stdio", "length", "msgpack"), "--enable-test-methods") as w:
        assert w.call("worker/ping", {"hi": 1})["result"] == {"hi": 1}
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgpack

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

UNSET: Any = object()
Message = Any  # a decoded dict (request, response, notification) or a list (a batch response)


@dataclass(frozen=True)
class Wire:
    transport: str  # stdio | pipe
    framing: str  # length | lsp | ndjson
    encoding: str  # msgpack | json

    @property
    def id(self) -> str:
        return f"{self.transport}-{self.framing}-{self.encoding}"

    def args(self) -> list[str]:
        return ["--framing", self.framing, "--encoding", self.encoding]

    # ---- payloads -------------------------------------------------------------------------

    def encode(self, message: Any) -> bytes:
        if self.encoding == "msgpack":
            return msgpack.packb(message, use_bin_type=True)
        return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()

    def decode(self, payload: bytes) -> Any:
        if self.encoding == "msgpack":
            return msgpack.unpackb(payload, raw=False, strict_map_key=False)
        return json.loads(payload)

    # ---- frames ---------------------------------------------------------------------------

    def wrap(self, payload: bytes) -> bytes:
        if self.framing == "length":
            return struct.pack(">I", len(payload)) + payload
        if self.framing == "lsp":
            return b"Content-Length: %d\r\n\r\n" % len(payload) + payload
        assert b"\n" not in payload, "an ndjson payload cannot contain a newline"
        return payload + b"\n"

    def read_frame(self, stream: IO[bytes]) -> bytes | None:
        """The next frame the worker wrote, exactly as this document's framing says; None at clean EOF.

        Raises ValueError for anything that is not a well-formed frame.
        """
        if self.framing == "length":
            header = stream.read(4)
            if not header:
                return None
            if len(header) < 4:
                raise ValueError(f"stream ended inside a length header: {header!r}")
            (size,) = struct.unpack(">I", header)
            return _read_exact(stream, size)
        if self.framing == "lsp":
            line = stream.readline(256)
            if not line:
                return None
            if not line.startswith(b"Content-Length: ") or not line.endswith(b"\r\n"):
                raise ValueError(f"not a Content-Length header line: {line!r}")
            digits = line[len(b"Content-Length: ") : -2]
            if not digits.isdigit():
                raise ValueError(f"bad Content-Length: {line!r}")
            blank = stream.readline(3)
            if blank != b"\r\n":
                raise ValueError(f"header block not ended by an empty line: {blank!r}")
            return _read_exact(stream, int(digits))
        line = stream.readline()
        if not line:
            return None
        if not line.endswith(b"\n"):
            raise ValueError(f"stream ended inside a line: {line[:80]!r}")
        return line[:-1]


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"stream ended {size - len(data)} bytes before the end of a frame")
    return data


ALL_WIRES = [
    Wire(transport, framing, encoding)
    for transport in ("stdio", "pipe")
    for framing in ("length", "lsp", "ndjson")
    for encoding in ("msgpack", "json")
    if not (framing == "ndjson" and encoding == "msgpack")
]


def is_response(message: Message) -> bool:
    return isinstance(message, dict) and "id" in message and ("result" in message or "error" in message)


def error_code(message: Message) -> int | None:
    return message["error"]["code"] if isinstance(message, dict) and "error" in message else None


class WorkerProcess:
    """The real worker as a subprocess, with a reader thread collecting every message it writes."""

    def __init__(
        self,
        wire: Wire,
        *args: str,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self.wire = wire
        self.messages: list[tuple[float, Message]] = []
        self.protocol_errors: list[str] = []
        self.stream_closed = False
        self._cond = threading.Condition()
        self._stderr = bytearray()
        self._stdout = bytearray()  # pipe transport only: must stay empty
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._tmpdir = tempfile.mkdtemp(prefix="hfw")  # short: Unix socket paths are limited to ~107 bytes
        self._server: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._threads: list[threading.Thread] = []

        base = command if command is not None else [sys.executable, "-m", "worker"]
        cmd = [*base, *wire.args(), *args]
        full_env = {**os.environ, "TMPDIR": self._tmpdir, **(env or {})}
        if wire.transport == "pipe":
            name = f"t{uuid.uuid4().hex[:10]}"
            self.socket_path = os.path.join(self._tmpdir, f"CoreFxPipe_{name}")
            self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._server.bind(self.socket_path)
            self._server.listen(1)
            cmd += ["--pipe", name]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=full_env,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._spawn(self._collect, self.proc.stderr, self._stderr)
        if self._server is not None:
            self._server.settimeout(ready_timeout)
            try:
                self._conn, _ = self._server.accept()
            except TimeoutError:
                self.kill()
                stderr = self.stderr_text()
                raise AssertionError(f"the worker never connected to its pipe; stderr: {stderr}") from None
            self._conn.settimeout(None)
            self._spawn(self._collect, self.proc.stdout, self._stdout)
            stream: IO[bytes] = self._conn.makefile("rb")
        else:
            stream = self.proc.stdout
        self._spawn(self._read_messages, stream)
        first = self.wait_for(lambda m: True, ready_timeout, what="the worker/ready notification")
        self.ready_seconds = self.messages[0][0] - self.started
        self.ready = first

    # ---- threads --------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _collect(self, stream: IO[bytes], sink: bytearray) -> None:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                return
            with self._cond:
                sink += chunk
                self._cond.notify_all()

    def _read_messages(self, stream: IO[bytes]) -> None:
        try:
            while True:
                try:
                    frame = self.wire.read_frame(stream)
                except (ValueError, OSError) as exc:
                    self._problem(f"bad frame: {exc}")
                    return
                if frame is None:
                    return
                try:
                    message = self.wire.decode(frame)
                except Exception as exc:  # any decoding failure is the worker's fault
                    self._problem(f"undecodable payload {frame[:80]!r}: {exc}")
                    continue
                with self._cond:
                    self.messages.append((time.monotonic(), message))
                    self._cond.notify_all()
        finally:
            with self._cond:
                self.stream_closed = True
                self._cond.notify_all()

    def _problem(self, text: str) -> None:
        with self._cond:
            self.protocol_errors.append(text)
            self._cond.notify_all()

    # ---- sending --------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        with self._write_lock:
            if self._conn is not None:
                self._conn.sendall(data)
            else:
                assert self.proc.stdin is not None
                self.proc.stdin.write(data)
                self.proc.stdin.flush()

    def send_payload(self, payload: bytes) -> None:
        self.send_raw(self.wire.wrap(payload))

    def send(self, message: Any) -> None:
        self.send_payload(self.wire.encode(message))

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: str, params: Any = UNSET, *, id: Any = UNSET) -> Any:
        """Send a request; returns its id."""
        rid = self.new_id() if id is UNSET else id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not UNSET:
            message["params"] = params
        self.send(message)
        return rid

    def notify(self, method: str, params: Any = UNSET) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not UNSET:
            message["params"] = params
        self.send(message)

    def cancel(self, id: Any) -> None:
        self.notify("$/cancelRequest", {"id": id})

    def close_input(self) -> None:
        """End of input for the worker: stdin closed, or the pipe's write side shut down."""
        with self._write_lock:
            if self._conn is not None:
                self._conn.shutdown(socket.SHUT_WR)
            elif self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()

    # ---- receiving ------------------------------------------------------------------------

    def hang_until_released(self, id: Any = UNSET) -> tuple[Any, str]:
        """Start a ``test/hang`` (needs --enable-test-methods) that ends only when ``test/release`` is
        called with its key (or after an hour), and wait until it reports that it runs; returns its
        (id, key). Whatever the machine's load, what a test does next happens while it runs."""
        key = f"hang-{uuid.uuid4().hex[:8]}"
        mark = self.mark()
        rid = self.request("test/hang", {"release": key, "progressToken": key}, id=id)
        self.wait_for(
            lambda m: isinstance(m, dict) and m.get("method") == "$/progress" and m["params"]["token"] == key,
            what="the hang beginning",
            after=mark,
        )
        return rid, key

    def mark(self) -> int:
        """A position in the message log, for ``wait_for(..., after=mark)``."""
        with self._cond:
            return len(self.messages)

    def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = 10.0, *, what: str = "", after: int = 0
    ) -> Message:
        """The first message (in arrival order, from position ``after``) that satisfies predicate,
        waiting for it if needed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = after
            while True:
                for _, message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                remaining = deadline - time.monotonic()
                if self.stream_closed or remaining <= 0:
                    state = "the stream closed" if self.stream_closed else f"{timeout}s passed"
                    raise AssertionError(
                        f"{state} without {what or 'the expected message'}; exit code {self.proc.poll()}, "
                        f"protocol errors {self.protocol_errors}, last messages {self.all_messages()[-5:]}, "
                        f"stderr tail {self.stderr_text()[-2000:]!r}"
                    )
                self._cond.wait(remaining)

    def response(self, id: Any, timeout: float = 10.0) -> dict[str, Any]:
        return self.wait_for(
            lambda m: is_response(m) and _same_id(m["id"], id), timeout, what=f"a response to {id!r}"
        )

    def arrival(self, message: Message) -> float:
        """When a message (by identity) arrived, on the monotonic clock."""
        with self._cond:
            for at, m in self.messages:
                if m is message:
                    return at
        raise KeyError("message not received")

    def call(self, method: str, params: Any = UNSET, timeout: float = 10.0) -> dict[str, Any]:
        return self.response(self.request(method, params), timeout)

    def all_messages(self, after: int = 0) -> list[Message]:
        with self._cond:
            return [m for _, m in self.messages[after:]]

    def responses_to(self, id: Any) -> list[dict[str, Any]]:
        return [m for m in self.all_messages() if is_response(m) and _same_id(m["id"], id)]

    def wait_stderr(self, text: str, timeout: float = 5.0) -> None:
        needle = text.encode()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._stderr.count(needle) == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{text!r} never appeared on stderr: {self.stderr_text()[-2000:]!r}")
                self._cond.wait(remaining)

    def stderr_text(self) -> str:
        with self._cond:
            return self._stderr.decode(errors="replace")

    def stderr_count(self, text: str) -> int:
        with self._cond:
            return self._stderr.count(text.encode())

    def stdout_bytes(self) -> bytes:
        """What the worker wrote to stdout with the pipe transport (where stdout must carry nothing)."""
        with self._cond:
            return bytes(self._stdout)

    # ---- ending ---------------------------------------------------------------------------

    def wait_exit(self, timeout: float = 10.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the worker did not exit within {timeout}s; stderr tail {self.stderr_text()[-2000:]!r}"
            ) from None

    def join_output(self, timeout: float = 5.0) -> None:
        """After exit: wait until every output stream has been read to its end."""
        for thread in self._threads:
            thread.join(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        for closable in (self._conn, self._server, self.proc.stdin):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass
        self.join_output()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _same_id(a: Any, b: Any) -> bool:
    # 1 and 1.0 and True compare equal in Python; ids must match in type too.
    return type(a) is type(b) and a == b


def start_all(specs: list[tuple[Wire, list[str]]]) -> list[WorkerProcess]:
    """Start several workers concurrently (start-up dominates short tests); all or none."""
    results: list[WorkerProcess | BaseException] = [RuntimeError("not started")] * len(specs)

    def start(i: int) -> None:
        wire, args = specs[i]
        try:
            results[i] = WorkerProcess(wire, *args)
        except BaseException as exc:  # re-raised below, on the test's thread
            results[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(specs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    workers = [r for r in results if isinstance(r, WorkerProcess)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for w in workers:
            w.close()
        raise failures[0]
    return workers
