"""Fault-injection methods (``test/*``), registered only with ``--enable-test-methods``.

They let a host's test suite provoke what real deployments do: slow calls, calls that ignore
cancellation, a process that dies, a library that writes to stdout.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import time
from typing import Any

import msgspec

from worker.errors import InvalidParams
from worker.rpc.messages import Params
from worker.runtime.context import RequestContext
from worker.runtime.registry import Handlers
from worker.runtime.state import WorkerState

handlers = Handlers()


class EchoParams(Params):
    value: Any = None


@handlers.method("test/echo")
def echo(params: EchoParams, ctx: RequestContext) -> Any:
    """Return ``value`` as sent, on a handler thread (unlike worker/ping, which is inline)."""
    return params.value


MAX_SLEEP_SECONDS = 86400.0


class SleepParams(Params):
    seconds: float
    progress_interval: float = 0.1


class SleepResult(msgspec.Struct):
    slept_seconds: float


@handlers.method("test/sleep")
def sleep(params: SleepParams, ctx: RequestContext) -> SleepResult:
    """Sleep cooperatively: cancellation ends it at once. With a progressToken, reports
    ``{"elapsed_seconds", "fraction"}`` ceil(seconds / progress_interval) times, the last at the end."""
    # Not NaN (a sleep of nothing) nor 1e308 (an OverflowError from the clock arithmetic): a sleep
    # is a finite wait, at most a day.
    if not 0 <= params.seconds <= MAX_SLEEP_SECONDS:
        raise InvalidParams(f"seconds must be a finite number from 0 to {MAX_SLEEP_SECONDS:g}")
    if not 0 < params.progress_interval <= MAX_SLEEP_SECONDS:
        raise InvalidParams(f"progress_interval must be above 0 and at most {MAX_SLEEP_SECONDS:g}")
    start = time.monotonic()
    # With progress, the sleep is cut into ceil(seconds / interval) slices and one report follows each
    # slice, so a client can count on the number of reports.
    interval = max(params.progress_interval, 0.01)
    slices = max(1, math.ceil(params.seconds / interval)) if ctx.wants_progress else 1
    for i in range(1, slices + 1):
        target = start + params.seconds * i / slices
        while (remaining := target - time.monotonic()) > 0:
            if ctx.cancel_event.wait(remaining):
                ctx.check_cancelled()
        if ctx.wants_progress:
            elapsed = time.monotonic() - start
            ctx.progress({"elapsed_seconds": round(elapsed, 3), "fraction": i / slices})
    return SleepResult(slept_seconds=round(time.monotonic() - start, 3))


class HangParams(Params):
    seconds: float = 3600.0
    # true: hold the GIL the whole time (like a stuck C extension): the whole worker freezes and
    # stops answering worker/ping. false: a Python busy loop that ignores cancellation.
    hold_gil: bool = False
    # A key: instead of busy-looping, wait (using no CPU, still deaf to cancellation) until
    # test/release is called with this key or ``seconds`` pass. Lets a test decide when a stuck
    # handler ends instead of guessing how long it must last.
    release: str | None = None


class HangResult(msgspec.Struct):
    hung_seconds: float


class Releases:
    """The keys test/release has been called with, and the hangs waiting on each."""

    def __init__(self, state: WorkerState) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._waiting: dict[str, int] = {}

    def event(self, key: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def wait(self, key: str, seconds: float) -> None:
        event = self.event(key)
        with self._lock:
            self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            event.wait(seconds)
        finally:
            with self._lock:
                self._waiting[key] -= 1

    def release(self, key: str) -> int:
        self.event(key).set()
        with self._lock:
            return self._waiting.get(key, 0)


@handlers.method("test/hang")
def hang(params: HangParams, ctx: RequestContext) -> HangResult:
    """Busy-loop for ``seconds`` and never look at cancellation; with ``release``, wait for
    test/release instead, as deaf to cancellation."""
    if params.seconds < 0 or not math.isfinite(params.seconds):
        raise InvalidParams("seconds must be a finite number, not negative")
    # Reported before it begins, so a client can act while it runs instead of guessing when it started.
    ctx.progress({"hanging": True})
    start = time.monotonic()
    if params.release is not None:
        ctx.state.service(Releases).wait(params.release, params.seconds)
    elif params.hold_gil:
        _sleep_holding_gil(params.seconds)
    else:
        deadline = start + params.seconds
        while time.monotonic() < deadline:
            pass
    return HangResult(hung_seconds=round(time.monotonic() - start, 3))


def _sleep_holding_gil(seconds: float) -> None:
    # ctypes.PyDLL calls keep the GIL, unlike ctypes.CDLL.
    if sys.platform == "win32":  # pragma: no cover
        ctypes.PyDLL("kernel32").Sleep(int(seconds * 1000))
    else:
        whole = int(seconds)
        libc = ctypes.PyDLL(None)
        if whole:
            libc.sleep(ctypes.c_uint(whole))
        libc.usleep(ctypes.c_uint(int((seconds - whole) * 1_000_000)))


class HoldGilParams(Params):
    seconds: float


class HoldGilResult(msgspec.Struct):
    held_seconds: float


# One hold at a time: each saves the switch interval it restores, and two interleaved would restore
# the other's huge value for good.
_hold_gil_lock = threading.Lock()


@handlers.method("test/hold_gil")
def hold_gil(params: HoldGilParams, ctx: RequestContext) -> HoldGilResult:
    """Spin in pure Python for ``seconds`` while no other Python thread may run: the reader that
    answers worker/ping included. Unlike test/hang with hold_gil (a C sleep: no CPU used), the process
    burns CPU the whole time, as a C extension computing with the GIL held does: busy, not hung."""
    if not 0 <= params.seconds <= MAX_SLEEP_SECONDS:
        raise InvalidParams(f"seconds must be a finite number from 0 to {MAX_SLEEP_SECONDS:g}")
    with _hold_gil_lock:
        previous = sys.getswitchinterval()
        # A thread waiting for the GIL asks its holder to drop it once per switch interval; longer than
        # the hold, nobody asks, and the spinning thread keeps the GIL from the first instant to the last.
        # Raised before the progress goes out: a thread that begins to wait once the client knows of the
        # hold (the reader with the client's next ping) must wait with the new interval, not the old 5 ms
        # one, which would let it in once, a few ms into the hold.
        sys.setswitchinterval(params.seconds + 1.0)
        try:
            # Reported before it begins: a client can act while it runs instead of guessing when it started.
            ctx.progress({"holding": True})
        except BaseException:
            sys.setswitchinterval(previous)
            raise
        start = time.monotonic()
        try:
            deadline = start + params.seconds
            while time.monotonic() < deadline:
                pass
        finally:
            sys.setswitchinterval(previous)
        return HoldGilResult(held_seconds=round(time.monotonic() - start, 3))


class ReleaseParams(Params):
    key: str


class ReleaseResult(msgspec.Struct):
    waiting: int


@handlers.method("test/release", inline=True)
def release(params: ReleaseParams, ctx: RequestContext) -> ReleaseResult:
    """End every test/hang waiting on ``key``, and those that will (the key stays released).
    Answered on the reader thread, so even a worker whose handler threads are all stuck takes it."""
    return ReleaseResult(waiting=ctx.state.service(Releases).release(params.key))


class CrashParams(Params):
    exit_code: int = 1
    # true: die the way a bug in a native extension kills a process, by SIGSEGV, instead of exiting
    # with exit_code. (POSIX only: on Windows ctypes turns the access violation into an OSError.)
    native: bool = False


@handlers.method("test/crash")
def crash(params: CrashParams, ctx: RequestContext) -> None:
    """End the process at once with ``exit_code``, or by reading address 0 when ``native``; the
    request is never answered."""
    if params.native:
        sys.stderr.write("test/crash: reading address 0 (native crash)\n")
        sys.stderr.flush()
        ctypes.string_at(0)
    sys.stderr.write(f"test/crash: exiting with code {params.exit_code}\n")
    sys.stderr.flush()
    os._exit(params.exit_code)


class PrintParams(Params):
    text: str = "stray output"


class PrintResult(msgspec.Struct):
    channels: list[str]


@handlers.method("test/print")
def print_to_stdout(params: PrintParams, ctx: RequestContext) -> PrintResult:
    """Write ``text`` to stdout every way careless code does. None of it may reach the protocol."""
    line = params.text + "\n"
    channels = []
    print(params.text)  # noqa: T201 - the point of this method
    channels.append("print")
    sys.stdout.write(line)
    sys.stdout.flush()
    channels.append("sys.stdout")
    if sys.__stdout__ is not None:
        sys.__stdout__.write(line)
        sys.__stdout__.flush()
        channels.append("sys.__stdout__")
    os.write(1, line.encode())
    channels.append("fd1")
    if sys.platform != "win32":
        libc = ctypes.CDLL(None)
        libc.puts(params.text.encode())
        libc.fflush(None)
        channels.append("libc")
    return PrintResult(channels=channels)
