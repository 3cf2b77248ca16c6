"""Named-pipe transport: the worker connects as a client to a pipe the host created.

On Windows the pipe is ``\\\\.\\pipe\\NAME``. Elsewhere .NET's ``NamedPipeServerStream`` listens on a
Unix domain socket named ``CoreFxPipe_NAME`` in the temporary directory (``$TMPDIR``, else ``/tmp``),
and that is what we connect to. A NAME that is an absolute path is used as the socket path as is.
The host may start listening a moment after it starts us, so connecting is retried for a while.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from worker.transport import Transport

CONNECT_TIMEOUT_SECONDS = 10.0


def socket_path(name: str) -> str:
    if os.path.isabs(name):
        return name
    # Mirrors .NET's Path.GetTempPath() on Unix: $TMPDIR if set, else /tmp.
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, f"CoreFxPipe_{name}")


def open_pipe(name: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Transport:
    if sys.platform == "win32":  # pragma: no cover - no Windows in CI
        return _open_windows_pipe(name, timeout)  # type: ignore[name-defined, unused-ignore]
    path = socket_path(name)
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            if time.monotonic() >= deadline:
                raise ConnectionError(f"no pipe server at {path} after {timeout:g}s: {exc}") from None
            time.sleep(0.05)

    def close() -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    return Transport("pipe", sock.recv, sock.sendall, close, sock.recv_into)


if sys.platform == "win32":  # pragma: no cover - no Windows in CI

    def _open_windows_pipe(name: str, timeout: float) -> Transport:
        # A synchronous pipe handle serialises a blocked ReadFile with every WriteFile on the same
        # handle, so reads and writes use overlapped I/O, as multiprocessing does on Windows.
        import _winapi

        path = name if name.startswith("\\\\") else rf"\\.\pipe\{name}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                handle = _winapi.CreateFile(
                    path,
                    _winapi.GENERIC_READ | _winapi.GENERIC_WRITE,
                    0,
                    _winapi.NULL,
                    _winapi.OPEN_EXISTING,
                    _winapi.FILE_FLAG_OVERLAPPED,
                    _winapi.NULL,
                )
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"cannot open {path} after {timeout:g}s: {exc}") from None
                time.sleep(0.05)

        def read(n: int) -> bytes:
            try:
                ov, _ = _winapi.ReadFile(handle, n, overlapped=True)
                data: bytes = ov.getbuffer() if ov.GetOverlappedResult(True)[0] else b""
                return bytes(data)
            except BrokenPipeError:
                return b""

        def write_all(data: bytes) -> None:
            view = memoryview(data)
            while view:
                ov, _ = _winapi.WriteFile(handle, view, overlapped=True)
                written, _ = ov.GetOverlappedResult(True)
                view = view[written:]

        def close() -> None:
            _winapi.CloseHandle(handle)

        return Transport("pipe", read, write_all, close)
