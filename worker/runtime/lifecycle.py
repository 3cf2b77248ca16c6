"""Life cycle: start, handshake, serve, stop.

Start-up opens the transport, builds the codec, framing, writer and dispatcher once, and sends the
``worker/ready`` notification before anything heavy is imported. A reader thread then feeds frames
to the dispatcher while the main thread waits for a reason to stop:

    reason        how it arises                          what happens to requests in flight
    ----------    -----------------------------------    -----------------------------------------
    eof           the host closed our input              they finish and are answered, then exit 0
    shutdown      worker/shutdown was answered           drained by the method; the frame in hand is
                                                         answered, then exit 0
    signal        SIGTERM or SIGINT (Ctrl-C)             grace period, then cancelled; exit 0
    parent-gone   --parent-pid process no longer exists  cancelled at once; exit 0
    disconnected  writing to the host failed             nobody to answer; exit 0
    crash         the reader failed unexpectedly         exit 1

A second SIGTERM/SIGINT exits at once. The process ends with ``os._exit`` so that a handler thread
stuck in native code, or one that ignored its cancellation (an *abandoned* handler, whose request
was already answered), cannot keep a stopping worker alive: "requests in flight" above are those
not yet answered, never abandoned handlers.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable

from worker import PROTOCOL_VERSION, __version__, logs
from worker.config import Config
from worker.errors import (
    FrameTooLarge,
    InternalError,
    ParseError,
    ResourceExhausted,
    RpcError,
    is_out_of_memory,
)
from worker.rpc.codec import Codec, error_response
from worker.rpc.framing import FrameOutOfMemory, TruncatedStream, make_framing
from worker.rpc.messages import OutgoingNotification
from worker.runtime.dispatch import Dispatcher
from worker.runtime.ready import ReadyParams, take_token
from worker.runtime.registry import Handlers, merge
from worker.runtime.state import WorkerState
from worker.transport import Transport

log = logging.getLogger("worker")

PARENT_POLL_SECONDS = 0.5


def handler_families(config: Config) -> Iterable[Handlers]:
    from worker.handlers import core

    yield core.handlers
    if config.enable_test_methods:
        from worker.handlers import testing

        yield testing.handlers
    from worker.handlers import model_families

    yield from model_families()


def open_transport(config: Config) -> Transport:
    if config.pipe is None:
        from worker.transport.stdio import open_stdio

        return open_stdio()
    from worker.transport.pipe import open_pipe

    # Connect first: a pipe that cannot be used ends the worker with exit 2 before anything changes.
    transport = open_pipe(config.pipe)
    # Even on a pipe, stray writes to stdout must not reach whoever reads our stdout.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return transport


class Worker:
    def __init__(self, config: Config, transport: Transport) -> None:
        self.config = config
        self.transport = transport
        self.state = WorkerState(config)
        self.state.stop_requested = self.stop
        self.codec = Codec(config.encoding)
        self.framing = make_framing(
            config.framing, transport.read, config.max_frame_bytes, transport.readinto
        )

        from worker.runtime.writer import FrameWriter

        self.writer = FrameWriter(
            codec=self.codec,
            framing=self.framing,
            write_all=transport.write_all,
            max_frame_bytes=config.max_frame_bytes,
            on_disconnect=lambda: self.stop("disconnected", 0),
        )
        self.dispatcher = Dispatcher(
            methods=merge(handler_families(config)),
            codec=self.codec,
            send=self.writer.send,
            config=config,
            state=self.state,
        )
        self.state.dispatcher = self.dispatcher
        self.state.give_up_writes_after = self.writer.give_up_after
        self._stop = threading.Event()
        self._stop_reason = ""
        self._exit_code = 0
        self._stop_lock = threading.Lock()
        # Its own flag, not _stop: the end of input (or a lost parent) stops the worker too, and a
        # first signal then must still mean "stop within the grace", not "exit now".
        self._signalled = threading.Event()

    # ---- stopping -------------------------------------------------------------------------

    def stop(self, reason: str, code: int = 0) -> None:
        with self._stop_lock:
            if self._stop.is_set():
                return
            self._stop_reason = reason
            self._exit_code = code
            self._stop.set()

    # ---- serving --------------------------------------------------------------------------

    def send_ready(self, token: str | None = None) -> None:
        """Send ``worker/ready``; ``token`` is the host's one-time secret, echoed only when it gave one.

        The secret goes only to the peer the transport vouches for: on stdio the host made our pipes,
        and on a named pipe the listener's uid has been checked (worker.transport.pipe).
        """
        ready = ReadyParams(
            protocol=PROTOCOL_VERSION,
            version=__version__,
            pid=os.getpid(),
            python=sys.version.split()[0],
            encoding=self.config.encoding,
            framing=self.config.framing,
            transport=self.config.transport,
            methods=sorted(self.dispatcher.methods),
            max_frame_bytes=self.config.max_frame_bytes,
            max_inflight=self.config.max_inflight,
            token=token,
        )
        self.writer.send(OutgoingNotification(method="worker/ready", params=ready))

    def read_loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    payload = self.framing.read_frame()
                except (FrameTooLarge, FrameOutOfMemory, ParseError) as exc:
                    self.dispatcher.handle_frame_error(exc)
                    continue
                if payload is None:
                    self.stop("eof", 0)
                    return
                try:
                    self.dispatcher.handle_frame(payload)
                except Exception as exc:
                    del payload  # under memory pressure, the frame is what to give back first
                    self._frame_failed(exc)
        except TruncatedStream as exc:
            log.warning("input ended mid-frame: %s", exc)
            self.stop("eof", 0)
        except OSError as exc:
            log.warning("input closed: %s", exc)
            self.stop("eof", 0)
        except Exception:
            log.exception("reader failed")
            self.stop("crash", 1)

    def _frame_failed(self, exc: Exception) -> None:
        """A frame whose handling failed outside any request: answer it (id null) and read on.

        A bug met while handling one frame must not end a worker that may hold loaded models, and
        neither must memory running out while a frame is decoded: that is -32008, like any request
        that runs out of memory."""
        if is_out_of_memory(exc):
            error: RpcError = ResourceExhausted("out of memory while decoding a frame; nothing in it was run")
            log.warning("frame dropped: %s", error.message)
        else:
            log.exception("internal error while handling a frame")
            error = InternalError("internal error; see the worker's log")
        self.writer.send(error_response(None, error))

    def watch_parent(self, pid: int) -> None:
        while not self._stop.wait(PARENT_POLL_SECONDS):
            if not _process_exists(pid):
                log.warning("parent process %d is gone; exiting", pid)
                self.stop("parent-gone", 0)
                return

    def serve(self) -> int:
        threading.Thread(target=self.read_loop, name="reader", daemon=True).start()
        if self.config.parent_pid is not None:
            threading.Thread(
                target=self.watch_parent, args=(self.config.parent_pid,), name="parent-watch", daemon=True
            ).start()
        # Waiting in short slices keeps the main thread able to run signal handlers promptly.
        while not self._stop.wait(0.2):
            pass
        return self._finish()

    def _finish(self) -> int:
        from worker.runtime.writer import FINAL_WRITES_SECONDS

        reason = self._stop_reason
        log.info("stopping: %s", reason)
        d = self.dispatcher
        if reason == "eof":
            d.begin_draining()
            # However long requests in flight take, unless a signal asks for the bounded stop.
            while not d.wait_idle(SIGNAL_POLL_SECONDS):
                if self._signalled.is_set():
                    self._drain_for_signal()
                    break
        elif reason == "shutdown":
            # worker/shutdown drained the requests in flight; what the reader had in hand when it
            # stopped (the rest of a batch holding the shutdown, a ping right behind it) is answered
            # too, unless the host stops reading for FINAL_WRITES_SECONDS.
            d.begin_draining()
            self.writer.give_up_after(FINAL_WRITES_SECONDS)  # already set by the shutdown's own grace
            d.wait_idle(self.writer.seconds_to_give_up())
        elif reason == "signal":
            self._drain_for_signal()
        elif reason in ("parent-gone", "crash", "disconnected"):
            d.begin_draining()
            self.writer.give_up_after(FINAL_WRITES_SECONDS)
            d.cancel_all(reason=f"worker stopping: {reason}")
        return self._exit_code

    def _drain_for_signal(self) -> None:
        from worker.runtime.writer import FINAL_WRITES_SECONDS

        d = self.dispatcher
        grace = self.config.shutdown_grace_seconds
        d.begin_draining()
        # The main thread must never wait on a host that does not read: answers still unwritten
        # after the grace and a few seconds more are dropped, and the worker exits.
        self.writer.give_up_after(grace + FINAL_WRITES_SECONDS)
        if not d.wait_idle(grace):
            d.cancel_all(reason="worker stopped by a signal")
        d.wait_idle(self.writer.seconds_to_give_up())

    def _install_signal_handlers(self) -> None:
        def on_signal(signum: int, frame: object) -> None:
            if self._signalled.is_set():
                _hard_exit(128 + signum)
            self._signalled.set()
            self.stop("signal", 0)  # nothing more when another stop has begun: that one is bounded

        for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    signal.signal(sig, on_signal)
                except (OSError, ValueError):
                    pass


# How often an end-of-input drain looks for a signal that asks it to end within the grace.
SIGNAL_POLL_SECONDS = 0.2


def _process_exists(pid: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - no Windows in CI
        import ctypes

        SYNCHRONIZE = 0x00100000
        handle = ctypes.windll.kernel32.OpenProcess(SYNCHRONIZE, False, pid)
        if not handle:
            return False
        try:
            return ctypes.windll.kernel32.WaitForSingleObject(handle, 0) != 0
        finally:
            ctypes.windll.kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A parent that died leaves us re-parented; an exited-but-unreaped parent is a zombie.
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def _hard_exit(code: int) -> None:
    logging.shutdown()
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _lead_process_group() -> None:
    """Become the leader of a new process group, before any child exists: every process the worker
    or model code starts joins it, so a host's kill of the group (``kill(-pid)``) leaves none behind."""
    if not hasattr(os, "setpgid"):  # pragma: no cover - Windows: the host uses a job object instead
        return
    try:
        os.setpgid(0, 0)
    except OSError as exc:  # already a session leader (setsid): it leads a group of its own anyway
        log.warning("could not start a process group of our own: %s", exc)


def run(config: Config) -> int:
    started = time.monotonic()
    # First, before any thread or child process exists that could see it.
    token = take_token()
    logs.configure(config.log_level)
    if config.process_group:
        _lead_process_group()
    try:
        transport = open_transport(config)
    except (OSError, ValueError) as exc:
        # One line, no traceback: the pipe's reason (PipeError) or what stdio could not set up.
        log.error("cannot open the %s transport: %s", config.transport, exc)
        return 2
    worker = Worker(config, transport)
    # Before the handshake: a host may stop the worker the moment it reads worker/ready, and a
    # signal before the handlers exist would kill it with -15 (or a KeyboardInterrupt traceback).
    worker._install_signal_handlers()
    worker.send_ready(token)
    log.info(
        "worker ready in %.1f ms (%s/%s/%s, pid %d)",
        (time.monotonic() - started) * 1000,
        config.transport,
        config.framing,
        config.encoding,
        os.getpid(),
    )
    code = worker.serve()
    transport.close()
    _hard_exit(code)
    return code  # pragma: no cover
