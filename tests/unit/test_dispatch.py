"""worker.runtime.dispatch: from frames to handler calls, and exactly one response per request.

A real Dispatcher with an in-memory send (tests/unit/memory.py) and a small family of test methods
whose behaviour the tests steer through a per-worker ``Probe`` service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.memory import MemoryWorker
from worker.errors import FrameTooLarge, InvalidInput, UnknownHandle
from worker.rpc.messages import Params
from worker.runtime.context import RequestContext
from worker.runtime.registry import Handlers
from worker.runtime.state import WorkerState

family = Handlers()


class Probe:
    """What the test methods report, and the gates that hold them; one per MemoryWorker."""

    def __init__(self, state: WorkerState) -> None:
        self.threads: list[str] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.ran: list[Any] = []
        self.late_progress_sent = threading.Event()

    def wait_started(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.started.acquire(timeout=5), "the handler never started"


class Empty(Params):
    pass


class Value(Params):
    value: Any = None


class Steps(Params):
    steps: int


class Failure(Params):
    kind: str


class CustomError(Exception):
    pass


class OutOfMemoryError(RuntimeError):
    """Named like torch's, which the dispatcher recognises by name (torch is never imported here)."""


@family.method("t/inline", inline=True)
def t_inline(params: Value, ctx: RequestContext) -> Any:
    ctx.state.service(Probe).threads.append(threading.current_thread().name)
    return params.value


@family.method("t/echo")
def t_echo(params: Value, ctx: RequestContext) -> Any:
    probe = ctx.state.service(Probe)
    probe.threads.append(threading.current_thread().name)
    probe.ran.append(params.value)
    return params.value


@family.method("t/block")
def t_block(params: Value, ctx: RequestContext) -> str:
    """Ignores cancellation: returns only when the test releases it."""
    probe = ctx.state.service(Probe)
    probe.started.release()
    assert probe.release.wait(10)
    return "late result"


@family.method("t/cooperative")
def t_cooperative(params: Empty, ctx: RequestContext) -> str:
    ctx.state.service(Probe).started.release()
    ctx.cancel_event.wait(10)
    ctx.check_cancelled()
    return "not cancelled"


@family.method("t/progress")
def t_progress(params: Steps, ctx: RequestContext) -> str:
    for i in range(params.steps):
        ctx.progress({"step": i})
    return "done"


@family.method("t/progress-after-cancel")
def t_progress_after_cancel(params: Empty, ctx: RequestContext) -> str:
    probe = ctx.state.service(Probe)
    ctx.progress("before")
    probe.started.release()
    ctx.cancel_event.wait(10)
    ctx.progress("after the -32800")
    probe.late_progress_sent.set()
    return "late result"


FAILURES: dict[str, BaseException] = {
    "value": ValueError("boom"),
    "custom": CustomError("custom boom"),
    "memory": MemoryError("no room"),
    "torch-oom": OutOfMemoryError("CUDA out of memory"),
    "invalid-input": InvalidInput("corrupt image"),
    "unknown-handle": UnknownHandle("no model m9", data={"handle": "m9"}),
    "system-exit": SystemExit(3),
    "keyboard-interrupt": KeyboardInterrupt(),
}


@family.method("t/raise")
def t_raise(params: Failure, ctx: RequestContext) -> None:
    raise FAILURES[params.kind]


@family.method("t/raise-inline", inline=True)
def t_raise_inline(params: Failure, ctx: RequestContext) -> None:
    raise FAILURES[params.kind]


@pytest.fixture
def make_worker() -> Iterator[Any]:
    made: list[MemoryWorker] = []

    def make(**config: Any) -> MemoryWorker:
        worker = MemoryWorker(family, **config)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.state.service(Probe).release.set()
        worker.close()


@pytest.fixture
def worker(make_worker: Any) -> MemoryWorker:
    return make_worker()


def request(worker: MemoryWorker, id: Any, method: str, params: Any = None) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    worker.feed(message)


def cancel(worker: MemoryWorker, id: Any) -> None:
    worker.feed({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": id}})


def wait_until_draining(worker: MemoryWorker) -> None:
    deadline = time.monotonic() + 5
    while not worker.dispatcher._draining:
        assert time.monotonic() < deadline, "worker/shutdown never began"
        time.sleep(0.002)


def code(message: dict[str, Any]) -> int | None:
    return message["error"]["code"] if "error" in message else None


# ---- threads --------------------------------------------------------------------------------


def test_inline_methods_answer_on_the_reading_thread_before_handle_frame_returns(
    worker: MemoryWorker,
) -> None:
    request(worker, 1, "t/inline", {"value": "x"})
    assert worker.outbox.responses_to(1) == [{"jsonrpc": "2.0", "id": 1, "result": "x"}]
    assert worker.state.service(Probe).threads == [threading.current_thread().name]


def test_other_methods_run_on_handler_threads(worker: MemoryWorker) -> None:
    request(worker, 1, "t/echo", {"value": 5})
    assert worker.outbox.response(1)["result"] == 5
    (thread,) = worker.state.service(Probe).threads
    assert thread != threading.current_thread().name and thread.startswith("handler")


def test_a_slow_handler_never_delays_ping(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    probe.wait_started()
    request(worker, 2, "worker/ping", {"alive": True})
    assert worker.outbox.responses_to(2) == [{"jsonrpc": "2.0", "id": 2, "result": {"alive": True}}]
    probe.release.set()
    assert worker.outbox.response(1)["result"] == "late result"


def test_every_request_gets_exactly_one_response(worker: MemoryWorker) -> None:
    kinds = [
        ("t/echo", {"value": 1}),
        ("t/inline", {"value": 2}),
        ("worker/ping", None),
        ("no/such", None),
        ("t/echo", {"nope": 1}),
        ("t/raise", {"kind": "value"}),
        ("t/progress", {"steps": 2, "progressToken": "p"}),
    ]
    ids = list(range(300))
    for i in ids:
        method, params = kinds[i % len(kinds)]
        request(worker, i, method, params)
    worker.wait_idle()
    answered = sorted(m["id"] for m in worker.outbox.snapshot() if "method" not in m)
    assert answered == ids


# ---- cancellation ---------------------------------------------------------------------------


def test_cancel_is_answered_at_once_even_when_the_handler_ignores_it(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, "c1", "t/block")
    probe.wait_started()
    started = time.monotonic()
    cancel(worker, "c1")
    # Answered by the cancel itself, on the reading thread, not by the stuck handler.
    assert [code(m) for m in worker.outbox.responses_to("c1")] == [-32800]
    assert time.monotonic() - started < 3
    assert worker.dispatcher.inflight == 0
    assert worker.dispatcher.running_handlers == 1
    probe.release.set()
    worker.wait_idle()
    # The late result was dropped.
    assert [code(m) for m in worker.outbox.responses_to("c1")] == [-32800]


def test_a_cooperative_handler_stops_and_is_answered_once(worker: MemoryWorker) -> None:
    request(worker, 7, "t/cooperative")
    worker.state.service(Probe).wait_started()
    cancel(worker, 7)
    worker.wait_idle()
    (only,) = worker.outbox.responses_to(7)
    assert code(only) == -32800
    assert "data" not in only["error"]


def test_cancel_for_an_unknown_or_answered_id_and_malformed_cancels_are_ignored(worker: MemoryWorker) -> None:
    request(worker, 1, "t/echo", {"value": 1})
    worker.outbox.response(1)
    worker.wait_idle()
    before = worker.outbox.snapshot()
    cancel(worker, 1)
    cancel(worker, "never-sent")
    worker.feed({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"wrong": 1}})
    worker.feed({"jsonrpc": "2.0", "method": "$/cancelRequest"})
    worker.feed({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": [1]}})
    assert worker.outbox.snapshot() == before


def test_a_request_cancelled_before_its_handler_starts_never_runs(make_worker: Any) -> None:
    worker = make_worker(max_inflight=1)
    probe = worker.state.service(Probe)
    # Occupy every handler thread with cancelled-but-running blockers, so the next call queues.
    for i in range(worker.dispatcher.handler_threads):
        request(worker, f"b{i}", "t/block")
        probe.wait_started()
        cancel(worker, f"b{i}")
    request(worker, "queued", "t/echo", {"value": "should not run"})
    cancel(worker, "queued")
    assert [code(m) for m in worker.outbox.responses_to("queued")] == [-32800]
    probe.release.set()
    worker.wait_idle()
    worker.close()
    assert "should not run" not in probe.ran
    assert [code(m) for m in worker.outbox.responses_to("queued")] == [-32800]


# ---- admission ------------------------------------------------------------------------------


def test_an_id_already_in_flight_is_refused_and_reusable_once_answered(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    probe.wait_started()
    request(worker, 1, "t/echo", {"value": "dup"})
    assert [code(m) for m in worker.outbox.responses_to(1)] == [-32600]
    probe.release.set()
    worker.wait_idle()
    assert [m.get("result") for m in worker.outbox.responses_to(1)] == [None, "late result"]
    request(worker, 1, "t/echo", {"value": "again"})
    worker.wait_idle()
    assert worker.outbox.responses_to(1)[-1]["result"] == "again"


def test_past_max_inflight_requests_are_refused_at_once_while_inline_ping_works(make_worker: Any) -> None:
    worker = make_worker(max_inflight=2)
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    request(worker, 2, "t/block")
    probe.wait_started(2)
    request(worker, 3, "t/echo", {"value": 3})
    (refused,) = worker.outbox.responses_to(3)
    assert code(refused) == -32001
    request(worker, 4, "worker/ping", [4])
    assert worker.outbox.responses_to(4) == [{"jsonrpc": "2.0", "id": 4, "result": [4]}]
    request(worker, 5, "worker/info")
    assert worker.outbox.responses_to(5)[0]["result"]["inflight"] == 2
    probe.release.set()
    worker.wait_idle()
    request(worker, 6, "t/echo", {"value": 6})
    assert worker.outbox.response(6)["result"] == 6


def test_notifications_do_not_count_against_max_inflight(make_worker: Any) -> None:
    worker = make_worker(max_inflight=1)
    for _ in range(5):
        worker.feed({"jsonrpc": "2.0", "method": "t/echo", "params": {"value": "n"}})
    request(worker, 1, "t/echo", {"value": 1})
    assert worker.outbox.response(1)["result"] == 1


def test_notifications_past_their_own_bound_are_dropped_not_queued(make_worker: Any) -> None:
    worker = make_worker(max_inflight=2)
    probe = worker.state.service(Probe)
    for _ in range(5):
        worker.feed({"jsonrpc": "2.0", "method": "t/block"})
    probe.wait_started(2)
    # The bound is the notifications' own: requests are still admitted.
    request(worker, 1, "t/echo", {"value": 1})
    assert worker.outbox.response(1)["result"] == 1
    probe.release.set()
    worker.wait_idle()
    assert not probe.started.acquire(timeout=0.2), "a dropped notification ran"
    assert all("id" in m for m in worker.outbox.snapshot()), "a notification was answered"


def test_while_draining_new_requests_get_32003_but_ping_answers(worker: MemoryWorker) -> None:
    worker.dispatcher.begin_draining()
    request(worker, 1, "t/echo", {"value": 1})
    request(worker, 2, "worker/ping")
    assert code(worker.outbox.response(1)) == -32003
    assert worker.outbox.response(2)["result"] is None


def test_admission_comes_before_params_as_protocol_md_orders_it(make_worker: Any) -> None:
    # protocol.md §4: known method (-32601), then admission (-32003, duplicate -32600, -32001),
    # then params (-32602).
    worker = make_worker(max_inflight=1)
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    probe.wait_started()
    request(worker, 2, "t/echo", {"bad": "params"})
    assert code(worker.outbox.response(2)) == -32001
    request(worker, 1, "t/echo", {"bad": "params"})
    assert [code(m) for m in worker.outbox.responses_to(1)] == [-32600]
    worker.dispatcher.begin_draining()
    request(worker, 3, "t/echo", {"bad": "params"})
    assert code(worker.outbox.response(3)) == -32003
    request(worker, 4, "no/such", {"bad": "params"})
    assert code(worker.outbox.response(4)) == -32601


def test_invalid_params_are_answered_without_running_the_method(worker: MemoryWorker) -> None:
    request(worker, 1, "t/echo", {"value": 1, "typo": 2})
    answer = worker.outbox.response(1)
    assert code(answer) == -32602 and "typo" in answer["error"]["message"]
    assert answer["error"]["data"]["type"] == "InvalidParams"
    worker.wait_idle()
    assert worker.state.service(Probe).ran == []
    assert worker.dispatcher.inflight == 0


def test_a_request_whose_answer_is_being_written_no_longer_counts_as_unanswered(worker: MemoryWorker) -> None:
    # The batcher skips its wait when every unanswered request is queued. A sequential client that
    # has read an answer sends its next request at once: the request being answered must not count.
    probe = worker.state.service(Probe)
    unanswered_when_sent: list[int] = []
    send = worker.dispatcher.send

    def send_and_count(message: Any) -> None:
        unanswered_when_sent.append(worker.dispatcher.unanswered)
        send(message)

    worker.dispatcher.send = send_and_count
    request(worker, 1, "t/block")
    probe.wait_started()
    assert worker.dispatcher.unanswered == 1
    probe.release.set()
    assert worker.outbox.response(1)["result"] == "late result"
    assert unanswered_when_sent == [0]


# ---- progress -------------------------------------------------------------------------------


def test_progress_comes_before_the_response(worker: MemoryWorker) -> None:
    request(worker, 1, "t/progress", {"steps": 3, "progressToken": "tok"})
    worker.wait_idle()
    sent = worker.outbox.snapshot()
    assert sent == [
        {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "tok", "value": {"step": 0}}},
        {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "tok", "value": {"step": 1}}},
        {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "tok", "value": {"step": 2}}},
        {"jsonrpc": "2.0", "id": 1, "result": "done"},
    ]


def test_without_a_progress_token_nothing_is_reported(worker: MemoryWorker) -> None:
    request(worker, 1, "t/progress", {"steps": 3})
    worker.wait_idle()
    assert worker.outbox.snapshot() == [{"jsonrpc": "2.0", "id": 1, "result": "done"}]


def test_progress_is_never_sent_after_the_response(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, 9, "t/progress-after-cancel", {"progressToken": 99})
    probe.wait_started()
    cancel(worker, 9)
    assert probe.late_progress_sent.wait(5)
    worker.wait_idle()
    sent = worker.outbox.snapshot()
    assert [m.get("params", {}).get("value") if "method" in m else code(m) for m in sent] == [
        "before",
        -32800,
    ]


# ---- notifications --------------------------------------------------------------------------


def test_notifications_are_never_answered(worker: MemoryWorker) -> None:
    for message in [
        {"jsonrpc": "2.0", "method": "t/echo", "params": {"value": "ran"}},
        {"jsonrpc": "2.0", "method": "worker/ping", "params": {"x": 1}},
        {"jsonrpc": "2.0", "method": "no/such/method"},
        {"jsonrpc": "2.0", "method": "t/echo", "params": {"unknown": 1}},
        {"jsonrpc": "2.0", "method": "t/echo", "params": [1, 2]},
        {"jsonrpc": "2.0", "method": "t/raise", "params": {"kind": "value"}},
        {"jsonrpc": "2.0", "method": "t/raise-inline", "params": {"kind": "value"}},
    ]:
        worker.feed(message)
    worker.close()
    assert worker.outbox.snapshot() == []
    assert worker.state.service(Probe).ran == ["ran"]


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["t/raise", "t/raise-inline"])
def test_an_exception_becomes_32000_with_its_type_and_message(worker: MemoryWorker, method: str) -> None:
    request(worker, 1, method, {"kind": "value"})
    error = worker.outbox.response(1)["error"]
    assert error["code"] == -32000
    assert "boom" in error["message"]
    assert error["data"] == {"type": "ValueError", "message": "boom"}


def test_a_non_builtin_exception_type_is_named_with_its_module(worker: MemoryWorker) -> None:
    request(worker, 1, "t/raise", {"kind": "custom"})
    data = worker.outbox.response(1)["error"]["data"]
    assert data["type"] == f"{CustomError.__module__}.CustomError"


@pytest.mark.parametrize("method", ["t/raise", "t/raise-inline"])
def test_the_traceback_is_sent_only_in_debug_mode(make_worker: Any, method: str) -> None:
    plain, debug = make_worker(), make_worker(debug=True)
    request(plain, 1, method, {"kind": "value"})
    request(debug, 1, method, {"kind": "value"})
    assert "traceback" not in plain.outbox.response(1)["error"]["data"]
    traceback = debug.outbox.response(1)["error"]["data"]["traceback"]
    assert "Traceback" in traceback and "ValueError: boom" in traceback and "t_raise" in traceback


@pytest.mark.parametrize("kind", ["memory", "torch-oom"])
def test_out_of_memory_becomes_32008(worker: MemoryWorker, kind: str) -> None:
    request(worker, 1, "t/raise", {"kind": kind})
    error = worker.outbox.response(1)["error"]
    assert error["code"] == -32008
    assert error["data"]["message"] == str(FAILURES[kind])


def test_a_protocol_error_raised_by_a_method_keeps_its_code(worker: MemoryWorker) -> None:
    request(worker, 1, "t/raise", {"kind": "invalid-input"})
    error = worker.outbox.response(1)["error"]
    assert error == {
        "code": -32006,
        "message": "corrupt image",
        "data": {"type": "InvalidInput", "message": "corrupt image"},
    }


def test_a_protocol_error_with_data_adds_it_to_type_and_message(worker: MemoryWorker) -> None:
    # protocol.md §9: error.data always has type and message; particular errors may add members.
    request(worker, 1, "t/raise", {"kind": "unknown-handle"})
    error = worker.outbox.response(1)["error"]
    assert error["code"] == -32004
    assert error["data"] == {"type": "UnknownHandle", "message": "no model m9", "handle": "m9"}


@pytest.mark.parametrize("method", ["t/raise", "t/raise-inline"])
@pytest.mark.parametrize("kind", ["system-exit", "keyboard-interrupt"])
def test_even_a_base_exception_from_a_method_is_answered_once(
    worker: MemoryWorker, method: str, kind: str
) -> None:
    request(worker, 1, method, {"kind": kind})
    error = worker.outbox.response(1)["error"]
    assert error["code"] == -32000
    assert error["data"]["type"] == type(FAILURES[kind]).__name__
    worker.wait_idle()
    assert len(worker.outbox.responses_to(1)) == 1
    request(worker, 2, "worker/ping")
    assert worker.outbox.response(2)["result"] is None


def test_a_bad_frame_reported_by_framing_is_answered_with_null_id(worker: MemoryWorker) -> None:
    worker.dispatcher.handle_frame_error(FrameTooLarge("frame of 10 bytes exceeds the limit"))
    assert worker.outbox.snapshot() == [
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32002, "message": "frame of 10 bytes exceeds the limit"},
        }
    ]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_ping_never_echoes_malformed_params(make_worker: Any, encoding: str) -> None:
    worker = make_worker(encoding=encoding)
    if encoding == "json":
        frame = b'{"jsonrpc":"2.0","id":1,"method":"worker/ping","params":{"a":"\xff"}}'
    else:
        frame = b"\x84\xa7jsonrpc\xa32.0\xa2id\x01\xa6method\xabworker/ping\xa6params\x81\xa1a\xa1\xff"
    worker.dispatcher.handle_frame(frame)
    (answer,) = worker.outbox.snapshot()
    assert code(answer) == -32700
    assert "result" not in answer


def test_a_msgpack_batch_with_invalid_utf8_is_one_parse_error(make_worker: Any) -> None:
    worker = make_worker(encoding="msgpack")
    ping = b"\x84\xa7jsonrpc\xa32.0\xa2id\x01\xa6method\xabworker/ping\xa6params\x90"
    broken = b"\x81\xa6method\xa2\xff\xfe"
    worker.dispatcher.handle_frame(b"\x92" + ping + broken)
    (answer,) = worker.outbox.snapshot()
    assert answer["id"] is None and code(answer) == -32700


# ---- batches --------------------------------------------------------------------------------


def test_a_batch_is_answered_once_all_its_requests_are(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    worker.feed(
        [
            {"jsonrpc": "2.0", "id": "a", "method": "worker/ping", "params": {"n": 1}},
            {"jsonrpc": "2.0", "id": "b", "method": "t/block"},
            {"jsonrpc": "2.0", "method": "t/echo", "params": {"value": "notified"}},
        ]
    )
    probe.wait_started()
    assert worker.outbox.snapshot() == []  # the inline answer waits for its batch
    cancel(worker, "b")
    (batch,) = worker.outbox.snapshot()
    assert sorted(batch, key=lambda m: m["id"]) == [
        {"jsonrpc": "2.0", "id": "a", "result": {"n": 1}},
        {"jsonrpc": "2.0", "id": "b", "error": {"code": -32800, "message": "request cancelled"}},
    ]


# ---- shutdown -------------------------------------------------------------------------------


def test_shutdown_waits_for_requests_in_flight_then_asks_the_worker_to_stop(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    probe.wait_started()
    request(worker, 2, "worker/shutdown", {"grace_seconds": 5})
    wait_until_draining(worker)
    assert worker.stops == []
    probe.release.set()
    assert worker.outbox.response(2)["result"] == {"completed": True, "cancelled": 0}
    assert worker.outbox.response(1)["result"] == "late result"
    worker.wait_idle()
    assert worker.stops == [("shutdown", 0)]


def test_shutdown_cancels_what_outlives_the_grace(worker: MemoryWorker) -> None:
    request(worker, 1, "t/cooperative")
    worker.state.service(Probe).wait_started()
    request(worker, 2, "worker/shutdown", {"grace_seconds": 0.05})
    assert worker.outbox.response(2)["result"] == {"completed": False, "cancelled": 1}
    assert code(worker.outbox.response(1)) == -32800
    worker.wait_idle()
    assert worker.stops == [("shutdown", 0)]


def test_a_cancelled_shutdown_still_stops_the_worker(worker: MemoryWorker) -> None:
    # StreamJsonRpc sends $/cancelRequest when a call's CancellationToken fires (a host-side timeout).
    # The worker is already refusing work by then; it must not stay up, draining, forever.
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    probe.wait_started()
    request(worker, 2, "worker/shutdown", {"grace_seconds": 5})
    wait_until_draining(worker)  # the shutdown method is running, not merely queued
    cancel(worker, 2)
    assert code(worker.outbox.response(2)) == -32800
    probe.release.set()
    worker.wait_idle()
    deadline = time.monotonic() + 5
    while not worker.stops and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.stops == [("shutdown", 0)]


def test_raw_params_reach_a_raw_method_untouched(worker: MemoryWorker) -> None:
    request(worker, 1, "worker/ping", [1, {"b": [2.5, None]}])
    assert worker.outbox.response(1)["result"] == [1, {"b": [2.5, None]}]
