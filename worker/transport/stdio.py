"""stdio transport, with stdout reserved for the protocol.

Careless code writes to stdout: ``print``, ``sys.stdout``, a C library writing to file descriptor 1,
a child process that inherits it. Any such byte in the stream would corrupt the framing, so at
start the protocol takes private duplicates of fds 0 and 1, then points fd 1 at stderr and fd 0 at
the null device. Everything that still writes to "stdout" lands on stderr, and a child process can
no longer read our requests from an inherited stdin.
"""

from __future__ import annotations

import os
import sys

from worker.transport import Transport


def _binary(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - no Windows in CI
        import msvcrt

        msvcrt.setmode(fd, os.O_BINARY)


def open_stdio() -> Transport:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    _binary(proto_in)
    _binary(proto_out)

    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # sys.stdout already writes to fd 1 (now stderr); pointing it at sys.stderr as well keeps the
    # order of mixed writes and avoids a block buffer holding text until exit.
    sys.stdout = sys.stderr

    def read(n: int) -> bytes:
        return os.read(proto_in, n)

    def write_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(proto_out, view)
            view = view[written:]

    def close() -> None:
        for fd in (proto_in, proto_out):
            try:
                os.close(fd)
            except OSError:
                pass

    def readinto(view: memoryview) -> int:
        return os.readv(proto_in, [view])

    return Transport("stdio", read, write_all, close, readinto)
