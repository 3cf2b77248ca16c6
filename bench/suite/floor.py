"""The floors every round trip is compared with: a minimal two-process ping-pong over an OS pipe
(what the worker's stdio transport rides on) and over a Unix domain socket (what its pipe transport,
.NET's NamedPipeServerStream on Linux and macOS, rides on).

A child process reads a 4-byte length and the payload and writes both straight back; the parent
times write-then-read of the whole frame. Nothing is decoded or encoded, so this is what the
operating system and a Python reader cost, and no protocol over the same channel can beat it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

_CHILD = """
import os, sys
fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
while True:
    header = os.read(fd_in, 4)
    if len(header) < 4:
        break
    size = int.from_bytes(header, "big")
    body = b""
    while len(body) < size:
        chunk = os.read(fd_in, size - len(body))
        if not chunk:
            sys.exit(0)
        body += chunk
    frame = header + body
    while frame:
        frame = frame[os.write(fd_out, frame):]
"""


class PingPongFloor:
    def __init__(self, channel: str = "pipe") -> None:
        self.channel = channel
        self._sock: socket.socket | None = None
        if channel == "pipe":
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, "0", "1"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
            )
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self._in, self._out = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        else:
            self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            fd = theirs.fileno()
            self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(fd), str(fd)], pass_fds=[fd])
            theirs.close()
            self._in = self._out = self._sock.fileno()

    def round_trips(self, payload: bytes, calls: int) -> list[float]:
        frame = len(payload).to_bytes(4, "big") + payload
        times = []
        clock = time.perf_counter
        for _ in range(calls):
            start = clock()
            os.write(self._out, frame)
            got = 0
            while got < len(frame):
                got += len(os.read(self._in, len(frame) - got))
            times.append(clock() - start)
        return times

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc.wait(10)

    def __enter__(self) -> PingPongFloor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
