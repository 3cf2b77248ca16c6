"""Core methods, always present: worker/ping, worker/info, worker/shutdown."""

from __future__ import annotations

import sys
import threading
from typing import Annotated

import msgspec

from worker import PROTOCOL_VERSION, __version__
from worker.config import MAX_SHUTDOWN_GRACE_SECONDS
from worker.models.threads import ComputeSettings
from worker.models.threads import settings as compute_settings
from worker.rpc.messages import Params
from worker.runtime.context import RequestContext
from worker.runtime.process_stats import peak_rss_bytes, rss_bytes
from worker.runtime.registry import Handlers
from worker.runtime.writer import FINAL_WRITES_SECONDS

handlers = Handlers()


@handlers.method("worker/ping", inline=True)
def ping(params: msgspec.Raw, ctx: RequestContext) -> msgspec.Raw | None:
    """Return the params exactly as sent (null when there were none). Answered on the reader thread."""
    return params if len(params) else None


class InfoParams(Params):
    pass


class InfoResult(msgspec.Struct):
    protocol: int
    version: str
    pid: int
    python: str
    uptime_seconds: float
    inflight: int
    running_handlers: int
    abandoned_handlers: int
    handler_threads: int
    requests_total: int
    rss_bytes: int | None
    peak_rss_bytes: int | None
    threads: int
    torch_loaded: bool
    transport: str
    framing: str
    encoding: str
    max_inflight: int
    max_frame_bytes: int
    # Threads and wait policies torch, ONNX Runtime and tokenizers compute with (worker.models.threads).
    compute: ComputeSettings


@handlers.method("worker/info", inline=True)
def info(params: InfoParams, ctx: RequestContext) -> InfoResult:
    """Process facts a supervisor wants: identity, load and memory."""
    state = ctx.state
    config = state.config
    dispatcher = state.dispatcher
    return InfoResult(
        protocol=PROTOCOL_VERSION,
        version=__version__,
        pid=state.pid,
        python=sys.version.split()[0],
        uptime_seconds=round(state.uptime_seconds, 3),
        inflight=dispatcher.inflight,
        running_handlers=dispatcher.running_handlers,
        abandoned_handlers=dispatcher.abandoned_handlers,
        handler_threads=dispatcher.handler_threads,
        requests_total=dispatcher.requests_total,
        rss_bytes=rss_bytes(),
        peak_rss_bytes=peak_rss_bytes(),
        threads=threading.active_count(),
        torch_loaded="torch" in sys.modules,
        transport=config.transport,
        framing=config.framing,
        encoding=config.encoding,
        max_inflight=config.max_inflight,
        max_frame_bytes=config.max_frame_bytes,
        compute=compute_settings(),
    )


class ShutdownParams(Params):
    # Finite and bounded like --shutdown-grace: inf, NaN or 1e300 are -32602, before any draining.
    grace_seconds: Annotated[float, msgspec.Meta(ge=0.0, le=MAX_SHUTDOWN_GRACE_SECONDS)] | None = None


# How long worker/shutdown waits for answers already given to be written (bounded: a host that
# does not read would hold them for ever).
ANSWERS_WRITTEN_SECONDS = 2.0


class ShutdownResult(msgspec.Struct):
    completed: bool
    cancelled: int


@handlers.method("worker/shutdown", stops=True)
def shutdown(params: ShutdownParams, ctx: RequestContext) -> ShutdownResult:
    """Stop taking requests, let those in flight finish within the grace period, cancel the rest,
    answer, and exit 0. Sent as a notification, the same without the answer."""
    state = ctx.state
    dispatcher = state.dispatcher
    grace = params.grace_seconds if params.grace_seconds is not None else state.config.shutdown_grace_seconds
    dispatcher.begin_draining()
    # A host that does not read could hold the answers below, and so the stop, for ever: past the
    # grace and a last few seconds, what is still waiting to be written is dropped.
    state.give_up_writes_after(grace + FINAL_WRITES_SECONDS)
    try:
        completed = dispatcher.wait_idle(grace, ignore=ctx.id)
        cancelled = 0 if completed else dispatcher.cancel_all(ignore=ctx.id)
        if not completed:
            # What was not cancelled had been answered by the deadline, its answer still being
            # written: let those writes go before this answer, the last thing the worker writes.
            completed = cancelled == 0
            dispatcher.wait_idle(ANSWERS_WRITTEN_SECONDS, ignore=ctx.id)
    finally:
        # Whatever happened above, a worker that has begun draining must go on to stop: it takes no
        # new requests, so staying up would only answer -32003 until its input ends.
        ctx.after_response(lambda: state.stop_requested("shutdown", 0))
    return ShutdownResult(completed=completed, cancelled=cancelled)
