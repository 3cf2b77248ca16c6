"""Dispatch: from a decoded frame to handler calls, and from their outcomes to exactly one response each.

Threads: frames arrive on the reader thread, which decodes them, answers inline methods itself and
hands every other request to a handler thread. So ``worker/ping`` and ``$/cancelRequest`` are never
queued behind slow work. A request's response is written by whoever finishes it first: its handler
thread, or the reader thread answering a cancellation. ``Call.finish`` makes that exactly once.

Handler threads are a fixed pool. A handler that ignores cancellation keeps its thread after its
request was answered -32800 (it is *abandoned*); admission counts those threads, so once requests,
notification calls and abandoned handlers would take every thread, new requests are refused -32001
instead of waiting behind the pool for ever. Abandoned handlers never hold up the worker's exit.

A host must know that work goes on after its -32800, or it sends the next call to a worker still busy
with the last (issue 10): a -32800 answered while the request's handler runs says
``data: {"handler_running": true}``, and when that handler returns the worker sends the notification
``worker/handlerDone`` for its id, exactly once and always after that answer. Whoever comes second,
the handler returning or the answer having been handed to the writer, sends it.

Batches are bounded before their elements are decoded (``BatchLimit``: at most --max-inflight
elements) and before any of them runs (``batch_floor_bytes``: their response must be able to fit
--max-frame-bytes); a batch over either bound is refused as a whole with one -32600.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from worker.config import Config
from worker.errors import (
    MAX_TRACEBACK_CHARS,
    InvalidRequest,
    MethodNotFound,
    Overloaded,
    RequestCancelled,
    ResourceExhausted,
    RpcError,
    ShuttingDown,
    WorkerError,
    bounded,
    is_out_of_memory,
    quote,
    shorten,
)
from worker.extras import missing_extra
from worker.rpc import frame_head
from worker.rpc.batch_limit import BatchLimit
from worker.rpc.codec import Codec, error_response
from worker.rpc.messages import (
    CancelParams,
    ErrorObject,
    ErrorResponse,
    HandlerDoneParams,
    Id,
    Notification,
    OutgoingNotification,
    Params,
    ProgressParams,
    Request,
    Response,
    SuccessResponse,
)
from worker.runtime.context import RequestContext
from worker.runtime.registry import Method
from worker.runtime.state import WorkerState
from worker.runtime.writer import batch_floor_bytes, id_fits

log = logging.getLogger("worker.dispatch")

CANCEL_METHOD = "$/cancelRequest"
PROGRESS_METHOD = "$/progress"
HANDLER_DONE_METHOD = "worker/handlerDone"
STOP_THREAD_STACK_BYTES = 1 << 20
# How long an answer waits for a progress report of the same call that a host is slow to read.
PROGRESS_FIRST_SECONDS = 5.0

Reply = Callable[[Response], None]


def describe_exception(exc: BaseException, *, debug: bool) -> dict[str, Any]:
    """error.data for an exception: its type and message, and its traceback in --debug mode.

    Both texts are bounded (``shorten``): an exception's message can quote what the client sent."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(exc, RpcError):
        name = cls.__name__
    data: dict[str, Any] = {"type": name, "message": shorten(str(exc))}
    if debug:
        data["traceback"] = shorten("".join(traceback.format_exception(exc)), MAX_TRACEBACK_CHARS)
    return data


def response_for_exception(id: Id, exc: BaseException, *, debug: bool) -> ErrorResponse:
    data = describe_exception(exc, debug=debug)
    if isinstance(exc, RpcError):
        if exc.data:
            data.update({key: bounded(value) for key, value in exc.data.items()})
        # Built here rather than with error_response(), which would send exc.data alone and lose
        # the type and message that protocol.md promises in every error.data.
        return ErrorResponse(id=id, error=ErrorObject(exc.code, exc.message, data))
    if is_out_of_memory(exc):
        detail = str(exc)  # a MemoryError often has no text at all
        return error_response(
            id, ResourceExhausted(f"out of memory: {detail}" if detail else "out of memory"), data=data
        )
    missing = missing_extra(exc)
    if missing is not None:  # a lean install asked for what an extra brings
        data.update(missing.data or {})
        return ErrorResponse(id=id, error=ErrorObject(missing.code, missing.message, data))
    return error_response(id, WorkerError(f"{type(exc).__name__}: {exc}"), data=data)


class Call:
    """One request in flight."""

    __slots__ = (
        "id",
        "method",
        "ctx",
        "reply",
        "_lock",
        "done",
        "progress_sending",
        "running",
        "abandoned",
        "abandoned_at",
        "after_answer",
    )

    def __init__(
        self,
        id: int | str,
        method: str,
        ctx: RequestContext,
        reply: Reply,
        after_answer: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.id = id
        self.method = method
        self.ctx = ctx
        self.reply = reply
        # Runs what must follow the answer on the wire (worker/handlerDone): at once, or, in a batch,
        # once the batch's array has been sent.
        self.after_answer = after_answer or _at_once
        self._lock = threading.Lock()
        self.done = False
        self.progress_sending = 0  # progress reports being written now (see finish)
        # Guarded by the Dispatcher's lock: whether the handler runs now; whether it was running when
        # the request was answered without it (a cancellation); and since when that answer has been
        # handed to the writer (monotonic; None until then).
        self.running = False
        self.abandoned = False
        self.abandoned_at: float | None = None

    def finish(self, response: Response) -> bool:
        """Send the response unless one was already sent. True if this call sent it."""
        if not self.claim():
            return False
        self.deliver(response)
        return True

    def claim(self) -> bool:
        """Take the right to answer; False if the call is answered already."""
        with self._lock:
            if self.done:
                return False
            # Marked before it is written: a client that has read the answer and sent its next
            # request must find this one no longer counted (see Dispatcher.unanswered).
            self.done = True
        return True

    def deliver(self, response: Response) -> None:
        """Send the answer of a claimed call."""
        # No write happens under the lock, so a write held by a host that does not read holds no one
        # who only wants to know the call is answered (a cancel, a shutdown). A progress report that
        # began before ``done`` was set is written first (none begins after), so it never follows the
        # response; only one held for PROGRESS_FIRST_SECONDS by such a host is not waited for.
        if self.progress_sending:
            deadline = time.monotonic() + PROGRESS_FIRST_SECONDS
            while self.progress_sending and time.monotonic() < deadline:
                time.sleep(0.001)  # rare: a cancel racing a handler's own progress report
        self.reply(response)

    def send_progress(self, send: Callable[[Any], None], token: int | str, value: Any) -> bool:
        with self._lock:
            if self.done:
                return False  # never after the response
            self.progress_sending += 1
        try:
            send(OutgoingNotification(method=PROGRESS_METHOD, params=ProgressParams(token, value)))
        finally:
            with self._lock:
                self.progress_sending -= 1
        return True


def _at_once(fn: Callable[[], None]) -> None:
    fn()


class BatchReply:
    """Collects the responses of a batch and sends them as one array when the last one arrives."""

    def __init__(self, expected: int, send: Callable[[Any], None]) -> None:
        self._expected = expected
        self._send = send
        self._responses: list[Response] = []
        self._lock = threading.Lock()
        self._sent = False
        self._after: list[Callable[[], None]] = []

    def add(self, response: Response) -> None:
        with self._lock:
            self._responses.append(response)
            if len(self._responses) == self._expected:
                self._send(self._responses)
                self._sent = True
                after, self._after = self._after, []
            else:
                return
        for fn in after:
            fn()

    def then(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the batch's array has been sent: an answer in a batch is on the wire only
        then, and what follows an answer must not come before it."""
        with self._lock:
            if not self._sent:
                self._after.append(fn)
                return
        fn()


class Dispatcher:
    def __init__(
        self,
        *,
        methods: dict[str, Method],
        codec: Codec,
        send: Callable[[Any], None],
        config: Config,
        state: WorkerState,
    ) -> None:
        self.methods = methods
        self.codec = codec
        self.send = send
        self.config = config
        self.state = state
        self._inflight: dict[int | str, Call] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._draining = False
        self._running_handlers = 0
        self._notifications = 0  # notification calls queued or running on the handler pool
        self._abandoned = 0  # handlers still running after their request was answered without them
        self._finishing = 0  # answers being written (see _complete)
        self._displaced: set[Call] = set()  # answered calls whose id a new request took over
        self._handling_frame = False  # the reader is dispatching a frame (see handle_frame)
        self.requests_total = 0
        # Handler threads: one per request and one per notification call in flight at most, plus
        # room for cancelled requests whose code does not check for cancellation and still runs.
        # Admission keeps what needs a thread within this (see _pool_full).
        self.handler_threads = 2 * config.max_inflight + 16
        self._executor = ThreadPoolExecutor(max_workers=self.handler_threads, thread_name_prefix="handler")
        # The thread stops run on (worker/shutdown), started now while threads can still be had.
        self._stops: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.SimpleQueue()
        # A small stack: a stop's work is shallow, and under an address-space cap the 8 MiB default
        # would be one handler thread fewer. (stack_size applies to threads started after it is set;
        # nothing else starts one while the dispatcher is built.)
        previous = threading.stack_size(STOP_THREAD_STACK_BYTES)
        try:
            threading.Thread(target=self._run_stops, name="stop", daemon=True).start()
        finally:
            threading.stack_size(previous)
        self._batch_limit = BatchLimit(codec.encoding, config.max_inflight)

    # ---- stats ----------------------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def unanswered(self) -> int:
        """Requests read and not yet answered. Unlike ``inflight``, a call whose response is being
        written no longer counts, so a sequential client's next request never sees it."""
        with self._lock:
            return self._unanswered()

    @property
    def running_handlers(self) -> int:
        return self._running_handlers

    @property
    def abandoned_handlers(self) -> int:
        """Handlers still running after their request was answered without them (cancelled)."""
        return self._abandoned

    # ---- frames ---------------------------------------------------------------------------

    def handle_frame(self, payload: bytes) -> None:
        # Set by the reader thread alone, so no lock on this hot path; wait_idle counts a frame in
        # hand as work (a batch's inline answers, a ping read just before a stop), and is woken when
        # it ends only while draining, the one time anyone waits for idle.
        self._handling_frame = True
        try:
            self._handle_frame(payload)
        finally:
            self._handling_frame = False
            if self._draining:
                with self._idle:
                    self._idle.notify_all()

    def _handle_frame(self, payload: bytes) -> None:
        excess = self._batch_limit.excess(payload)
        if excess is not None:
            self.send(
                error_response(
                    None,
                    InvalidRequest(
                        f"a batch of {excess} elements; the limit is {self._batch_limit.limit} "
                        "(--max-inflight): nothing in it was run"
                    ),
                )
            )
            return
        try:
            incoming = self.codec.decode_frame(payload)
        except RpcError as exc:
            self.send(error_response(None, exc))
            return
        if isinstance(incoming, list):
            self._handle_batch(incoming)
        else:
            message = self.codec.classify(incoming)
            self._handle_message(message, self.send)

    def handle_frame_error(self, exc: RpcError) -> None:
        """A frame that could not be read (too large, out of memory, bad headers) was skipped: say so,
        to the request it held when its id can be read from its first bytes, else with id null."""
        log.warning("bad frame skipped: %s", exc.message)
        self.send(error_response(self._dropped_request_id(getattr(exc, "head", None)), exc))

    def _dropped_request_id(self, head: bytes | None) -> Id:
        if not head:
            return None
        id = frame_head.request_id(head, self.codec.encoding)
        if id is None or not id_fits(self.codec, id, self.config.max_frame_bytes):
            return None
        with self._lock:
            # An id in flight already is the other request's: answering it would answer that one.
            return None if self._in_flight(id) else id

    def _handle_batch(self, items: list[msgspec.Raw]) -> None:
        if not items:
            self.send(error_response(None, InvalidRequest("empty batch")))
            return
        messages: list[Request | Notification | ErrorResponse] = []
        for raw in items:
            try:
                env = self.codec.decode_batch_item(raw)
            except RpcError as exc:
                messages.append(error_response(None, exc))
                continue
            if env is None:
                messages.append(error_response(None, InvalidRequest("batch element is not an object")))
                continue
            message = self.codec.classify(env)
            if message is not None:
                messages.append(message)
        ids = [m.id for m in messages if not isinstance(m, Notification)]
        floor = batch_floor_bytes(self.codec, ids)
        if floor > self.config.max_frame_bytes:
            # Refused before any of it runs: a response that cannot fit would lose answers.
            problem = InvalidRequest(
                f"the response to this batch of {len(ids)} requests could need {floor} bytes, over "
                f"the frame limit of {self.config.max_frame_bytes} bytes (--max-frame-bytes): send "
                "fewer requests per batch or shorter ids; nothing in it was run"
            )
            self.send(error_response(None, problem))
            return
        batch = BatchReply(len(ids), self.send)
        batch_ids: set[int | str] = set()
        for message in messages:
            self._handle_message(message, batch.add, batch_ids, batch)

    def _handle_message(
        self,
        message: Request | Notification | ErrorResponse | None,
        reply: Reply,
        batch_ids: set[int | str] | None = None,
        batch: BatchReply | None = None,
    ) -> None:
        if message is None:
            log.debug("ignored a response sent to the worker")
        elif isinstance(message, ErrorResponse):
            reply(message)
        elif isinstance(message, Notification):
            self._notify(message)
        else:
            self._request(message, reply, batch_ids, batch)

    # ---- notifications --------------------------------------------------------------------

    def _notify(self, message: Notification) -> None:
        if message.method == CANCEL_METHOD:
            try:
                params = self.codec.decode_params(message.params, CancelParams)
            except RpcError as exc:
                log.warning("ignored malformed %s: %s", CANCEL_METHOD, exc.message)
                return
            self.cancel(params.id)
            return
        method = self.methods.get(message.method)
        if method is None:
            # Notifications are never answered, not even with an error (JSON-RPC 2.0 §4.1).
            log.info("ignored notification for unknown method %r", quote(message.method))
            return
        try:
            params = self._decode(method, message)
        except RpcError as exc:
            log.warning("ignored notification %r: %s", quote(message.method), exc.message)
            return
        ctx = RequestContext(id=None, method=method.name, state=self.state)
        if method.inline:
            self._run_quietly(method, params, ctx)
            return
        # Notification calls get a --max-inflight bound of their own (so they never crowd out
        # requests): without it a flood of them would queue on the handler pool without limit.
        # There is no one to tell, so a notification past the bound is dropped with a log warning.
        with self._lock:
            admitted = not self._draining and (
                method.stops  # a stop gets through however loaded the worker is
                or (self._notifications < self.config.max_inflight and not self._pool_full())
            )
            if admitted:
                self._notifications += 1
        if not admitted:
            log.warning("dropped notification %r: worker overloaded or shutting down", quote(message.method))
            return
        try:
            self._submit(method, self._run_notification, method, params, ctx)
        except RuntimeError as exc:  # see _request
            with self._lock:
                self._notifications -= 1
            log.warning("dropped notification %r: %s", quote(message.method), exc)

    def _run_notification(self, method: Method, params: Any, ctx: RequestContext) -> None:
        try:
            self._run_quietly(method, params, ctx)
        finally:
            with self._lock:
                self._notifications -= 1

    def _run_quietly(self, method: Method, params: Any, ctx: RequestContext) -> None:
        try:
            method.fn(params, ctx)
        except BaseException:  # even SystemExit: on the reading thread it would stop all reading
            log.exception("notification %r failed", method.name)
        finally:
            # A notification has no response: what was to follow it follows the call (a
            # worker/shutdown sent as a notification must still stop the worker).
            ctx.run_after_response()

    # ---- requests -------------------------------------------------------------------------

    def _request(
        self,
        request: Request,
        reply: Reply,
        batch_ids: set[int | str] | None = None,
        batch: BatchReply | None = None,
    ) -> None:
        if not id_fits(self.codec, request.id, self.config.max_frame_bytes):
            # Every answer echoes the id: one that no answer could carry within the frame limit is
            # refused before anything else (id null: the id itself is what cannot be sent).
            too_long = InvalidRequest(
                f"an id of {len(str(request.id))} characters cannot be echoed within the frame limit of "
                f"{self.config.max_frame_bytes} bytes (--max-frame-bytes)"
            )
            reply(error_response(None, too_long))
            return
        method = self.methods.get(request.method)
        if method is None:
            reply(error_response(request.id, MethodNotFound(f"method not found: {request.method}")))
            return
        # Ids are unique among the requests in flight and within a batch (whose answers are all
        # still unsent), for inline methods too: two answers with one id cannot be told apart.
        repeated = batch_ids is not None and request.id in batch_ids
        if batch_ids is not None:
            batch_ids.add(request.id)
        if method.inline:
            with self._lock:
                duplicate = repeated or self._in_flight(request.id)
            if duplicate:
                reply(error_response(request.id, _duplicate(request.id, repeated)))
            else:
                self._run_inline(method, request, reply)
            return
        ctx = RequestContext(id=request.id, method=method.name, state=self.state)
        call = Call(request.id, method.name, ctx, reply, batch.then if batch is not None else None)
        # Admission before params, in the order protocol.md documents: a worker that is shutting
        # down or full says so whatever the params.
        with self._lock:
            problem = self._admission_problem(request.id, repeated, stops=method.stops)
            if problem is None:
                displaced = self._inflight.get(request.id)
                if displaced is not None:  # answered, its answer still being written (see _in_flight)
                    self._displaced.add(displaced)
                self._inflight[request.id] = call
                self.requests_total += 1
        if problem is not None:
            reply(error_response(request.id, problem))
            return
        try:
            self._start(method, request, call, ctx)
        except Exception as exc:
            # Admitted means answered: whatever fails before the handler runs (invalid params, memory
            # running out while they decode, a thread that cannot start) answers this request and
            # frees its place, instead of leaving it in flight for ever.
            self._complete(call, response_for_exception(request.id, exc, debug=False))

    def _start(self, method: Method, request: Request, call: Call, ctx: RequestContext) -> None:
        params = self._decode(method, request)
        ctx.progress_token = params.progress_token if isinstance(params, Params) else None
        ctx._send_progress = lambda tok, value: call.send_progress(self.send, tok, value)
        try:
            self._submit(method, self._run, method, params, call)
        except RuntimeError as exc:
            # "can't start new thread": under a memory cap a thread's stack may not be had.
            raise ResourceExhausted(f"cannot start a handler thread: {exc}") from exc

    def _submit(self, method: Method, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on a handler thread; a stop on the thread kept for stops, which is
        there from the start, so neither a full pool nor a memory cap that refuses new threads can
        keep the worker from stopping."""
        if method.stops:
            # Draining from this instant, on the reader: a request read right behind the stop is
            # refused -32003 whether or not the stop's thread has begun to run.
            self.begin_draining()
            self._stops.put((fn, args))
        else:
            self._executor.submit(fn, *args)

    def _run_stops(self) -> None:
        while True:
            fn, args = self._stops.get()
            fn(*args)

    def _admission_problem(self, id: int | str, repeated: bool, *, stops: bool = False) -> RpcError | None:
        if self._draining:
            return ShuttingDown("the worker is shutting down and takes no new requests")
        if repeated or self._in_flight(id):
            return _duplicate(id, repeated)
        if stops:
            return None  # however full the worker is, a stop is taken (it has a thread of its own)
        if len(self._inflight) >= self.config.max_inflight and self._unanswered() >= self.config.max_inflight:
            return Overloaded(
                f"{self._unanswered()} requests in flight, the limit (--max-inflight) is "
                f"{self.config.max_inflight}; retry later"
            )
        if self._pool_full():
            return Overloaded(
                f"all {self.handler_threads} handler threads are taken, {self._abandoned} of them by "
                "cancelled requests whose handlers ignore cancellation and still run "
                "(worker/info: abandoned_handlers); retry later or on another worker"
            )
        return None

    def _pool_full(self) -> bool:
        """Whether one more call would wait for a handler thread: every thread is promised to a
        request in flight (running, about to, or writing its answer: unlike admission's other
        counts, a call answered but not yet written still holds its thread), a notification call,
        or an abandoned handler."""
        # _displaced too: a call whose id a new request reused left _inflight while its answer was
        # still being written on its thread.
        taken = len(self._inflight) + len(self._displaced) + self._notifications + self._abandoned
        return taken >= self.handler_threads

    # A call is answered (``done``) a moment before it is forgotten (removed from _inflight), so that
    # wait_idle means "every answer written". A client that has read an answer may already send its
    # next request: admission must count only calls not yet answered, or it would refuse a reused id
    # or a sequential client's request at the limit for a call that is over.

    def _in_flight(self, id: int | str) -> bool:
        call = self._inflight.get(id)
        return call is not None and not call.done

    def _unanswered(self) -> int:
        return sum(1 for call in self._inflight.values() if not call.done)

    def _decode(self, method: Method, request: Request | Notification) -> Any:
        if method.params_type is msgspec.Raw:
            self.codec.check_well_formed(request.params)
            return request.params
        return self.codec.decode_params(request.params, method.params_type)

    def _run_inline(self, method: Method, request: Request, reply: Reply) -> None:
        ctx = RequestContext(id=request.id, method=method.name, state=self.state)
        try:
            result = method.fn(self._decode(method, request), ctx)
            response: Response = SuccessResponse(id=request.id, result=result)
        except BaseException as exc:  # even SystemExit: it would end the reading thread, unanswered
            response = response_for_exception(request.id, exc, debug=self.config.debug)
        reply(response)

    def _run(self, method: Method, params: Any, call: Call) -> None:
        with self._lock:
            self._running_handlers += 1
            call.running = True
        try:
            if call.ctx.cancelled and not method.stops:
                return  # cancelled while queued: already answered
            # A stop still runs when cancelled before it began: a cancelled worker/shutdown is
            # answered -32800 and the worker still stops (its stop follows the answer at once).
            try:
                result = method.fn(params, call.ctx)
                response: Response = SuccessResponse(id=call.id, result=result)
            except RequestCancelled as exc:
                response = error_response(call.id, exc)
            except BaseException as exc:  # even SystemExit: the request must still be answered
                if not isinstance(exc, RpcError):
                    log.error(
                        "%s (id %r) failed: %s",
                        method.name,
                        _for_log(call.id),
                        shorten(str(exc)),
                        exc_info=self.config.debug,
                    )
                response = response_for_exception(call.id, exc, debug=self.config.debug)
            self._complete(call, response)
        finally:
            with self._lock:
                self._running_handlers -= 1
                call.running = False
                if call.abandoned:
                    self._abandoned -= 1
                # The -32800 said the handler runs: tell the host it stopped, unless that answer is
                # not yet handed to the writer, whose sender then tells it (see _answer_cancelled).
                report = call.abandoned and call.abandoned_at is not None
            if report:
                self._report_handler_done(call)

    def _complete(self, call: Call, response: Response) -> bool:
        sent = False
        # Counted while its answer is written: once answered, a call's id may be reused and its
        # place in _inflight taken by the new request, and wait_idle must still wait for this write
        # (at end of input the process exits as soon as the worker is idle).
        with self._lock:
            self._finishing += 1
        try:
            sent = call.finish(response)
        finally:
            with self._lock:
                self._finishing -= 1
                self._forget(call)
                self._idle.notify_all()
        if sent:
            call.ctx.run_after_response()
        return sent

    def _forget(self, call: Call) -> None:
        """Under the lock: the call's answer is written; its id may be taken by a new request."""
        self._displaced.discard(call)
        if self._inflight.get(call.id) is call:
            del self._inflight[call.id]

    # ---- cancellation and shutdown --------------------------------------------------------

    def cancel(self, id: int | str, reason: str = "request cancelled") -> bool:
        """Cancel a request in flight: flag it for its handler and answer -32800 now. True if this
        answered it."""
        with self._lock:
            call = self._inflight.get(id)
        if call is None or call.done:
            return False  # already answered, or never existed: nothing to do (LSP convention)
        call.ctx.cancel_event.set()
        return self._answer_cancelled(call, reason)

    def _answer_cancelled(self, call: Call, reason: str) -> bool:
        """Answer -32800 for a call whose handler may still run; False when its answer was already on
        its way (a call is answered, then forgotten).

        Whether the handler runs is decided under the lock that its end takes too, once the call is
        claimed (so no other answer can come): the -32800 says ``handler_running`` exactly when a
        ``worker/handlerDone`` will follow it."""
        with self._lock:
            self._finishing += 1  # see _complete
        claimed = abandoned = handler_ended = False
        try:
            claimed = call.claim()
            if not claimed:
                return False
            with self._lock:
                if call.running:
                    # Its thread stays taken until the handler returns, and admission counts it.
                    abandoned = call.abandoned = True
                    self._abandoned += 1
            data: Any = {"handler_running": True} if abandoned else msgspec.UNSET
            call.deliver(error_response(call.id, RequestCancelled(reason), data=data))
        finally:
            with self._lock:
                self._finishing -= 1
                self._forget(call)
                if abandoned:
                    call.abandoned_at = time.monotonic()
                    handler_ended = not call.running
                self._idle.notify_all()
        if handler_ended:
            self._report_handler_done(call)  # it returned while its answer was being written
        call.ctx.run_after_response()
        return True

    def _report_handler_done(self, call: Call) -> None:
        """The handler of a call answered -32800 while it ran has returned, and that answer is out."""
        assert call.abandoned_at is not None
        seconds = time.monotonic() - call.abandoned_at
        # The news a host waits for: the cancelled work has really stopped (issue 10).
        log.info(
            "%s (id %r) stopped %.1f s after it was answered without it",
            call.method,
            _for_log(call.id),
            seconds,
        )
        done = HandlerDoneParams(id=call.id, method=call.method, seconds_after_answer=round(seconds, 3))
        notification = OutgoingNotification(method=HANDLER_DONE_METHOD, params=done)
        call.after_answer(lambda: self.send(notification))

    def begin_draining(self) -> None:
        with self._lock:
            self._draining = True

    def wait_idle(self, timeout: float | None, *, ignore: int | str | None = None) -> bool:
        """Wait until no request (other than ``ignore``) is in flight, every answer is written and
        the reader is between frames. True if that happened in time. Call begin_draining first."""

        def idle() -> bool:
            return (
                not self._handling_frame
                and self._finishing == 0
                and all(key == ignore for key in self._inflight)
            )

        with self._idle:
            return self._idle.wait_for(idle, timeout)

    def cancel_all(self, *, ignore: int | str | None = None, reason: str = "worker is shutting down") -> int:
        with self._lock:
            ids = [key for key in self._inflight if key != ignore]
        return sum(self.cancel(key, reason) for key in ids)


def _for_log(id: int | str) -> int | str:
    """An id for a %r in the log: as it is, a string id shortened (a client may send megabytes)."""
    return quote(id) if isinstance(id, str) else id


def _duplicate(id: int | str, repeated: bool) -> InvalidRequest:
    if repeated:
        return InvalidRequest(f"id {id!r} is used by an earlier request in this batch")
    return InvalidRequest(f"a request with id {id!r} is already in flight")
