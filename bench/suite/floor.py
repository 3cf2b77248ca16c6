"""The floor every round trip is compared with: a minimal two-process pipe ping-pong.

A child process reads a 4-byte length and the payload from its stdin and writes both straight back
to its stdout; the parent times write-then-read of the whole frame. Nothing is decoded or encoded,
so this is what the operating system and a Python reader cost, and no protocol can beat it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

_CHILD = """
import os, sys
def read(n):
    return os.read(0, n)
def write(data):
    return os.write(1, data)
while True:
    header = read(4)
    if len(header) < 4:
        break
    size = int.from_bytes(header, "big")
    body = b""
    while len(body) < size:
        chunk = read(size - len(body))
        if not chunk:
            sys.exit(0)
        body += chunk
    frame = header + body
    while frame:
        frame = frame[write(frame):]
"""


class PipeFloor:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdout.fileno()
        self._out = self.proc.stdin.fileno()

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
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()

    def __enter__(self) -> PipeFloor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
