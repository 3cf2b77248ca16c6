"""worker.runtime.dispatch: from frames to handler calls, and exactly one response per request.

A real Dispatcher with an in-memory send (tests/unit/memory.py) and a small family of test methods
whose behaviour the tests steer through a per-worker ``Probe`` service.
"""

from __future__ import annotations

import math
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.memory import MemoryWorker
from worker.errors import FrameTooLarge, InvalidInput, UnknownHandle
from worker.rpc.messages import ErrorResponse, Params
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


def is_handler_done(id: Any) -> Any:
    return lambda m: (
        isinstance(m, dict) and m.get("method") == "worker/handlerDone" and m["params"]["id"] == id
    )


def handler_dones(worker: MemoryWorker, id: Any) -> list[dict[str, Any]]:
    return [m for m in worker.outbox.snapshot() if is_handler_done(id)(m)]


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


def test_cancel_is_answered_at_once_even_when_the_handler_ignores_it(
    worker: MemoryWorker, caplog: pytest.LogCaptureFixture
) -> None:
    probe = worker.state.service(Probe)
    request(worker, "c1", "t/block")
    probe.wait_started()
    cancel(worker, "c1")
    # Answered by the cancel itself, on the reading thread, before cancel() returned, while the
    # handler is still blocked (only the test releases it): it did not wait for the handler.
    assert [code(m) for m in worker.outbox.responses_to("c1")] == [-32800]
    # The answer says the work goes on, so a host does not take the worker for free (issue 10).
    assert worker.outbox.response("c1")["error"]["data"] == {"handler_running": True}
    assert worker.dispatcher.inflight == 0
    assert worker.dispatcher.running_handlers == 1
    assert worker.dispatcher.abandoned_handlers == 1
    assert handler_dones(worker, "c1") == []  # not while it runs
    with caplog.at_level("INFO", logger="worker.dispatch"):
        probe.release.set()
        done = worker.outbox.wait_for(is_handler_done("c1"))
        worker.wait_idle()
    assert worker.dispatcher.abandoned_handlers == 0
    assert any("t/block (id 'c1') stopped" in r.getMessage() for r in caplog.records)
    assert done["params"]["method"] == "t/block" and done["params"]["seconds_after_answer"] >= 0
    assert "id" not in done
    # After its answer, once; the late result was dropped.
    sent = worker.outbox.snapshot()
    assert sent.index(worker.outbox.response("c1")) < sent.index(done)
    assert handler_dones(worker, "c1") == [done]
    assert [code(m) for m in worker.outbox.responses_to("c1")] == [-32800]


def test_a_cooperative_handler_stops_and_is_answered_once(worker: MemoryWorker) -> None:
    request(worker, 7, "t/cooperative")
    worker.state.service(Probe).wait_started()
    cancel(worker, 7)
    worker.wait_idle()
    (only,) = worker.outbox.responses_to(7)
    assert code(only) == -32800
    # Answered at once, while the handler still ran (it stops at its next check): a host hears when.
    assert only["error"]["data"] == {"handler_running": True}
    worker.outbox.wait_for(is_handler_done(7))
    assert len(handler_dones(worker, 7)) == 1


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


class HeldExecutor:
    """Stands in for the handler pool: keeps what is submitted until the test runs it."""

    def __init__(self) -> None:
        self.held: list[tuple[Any, tuple[Any, ...]]] = []

    def submit(self, fn: Any, *args: Any) -> None:
        self.held.append((fn, args))

    def run_held(self) -> None:
        for fn, args in self.held:
            fn(*args)

    def shutdown(self, wait: bool = True) -> None:
        self.run_held()


def test_a_request_cancelled_before_its_handler_starts_never_runs(worker: MemoryWorker) -> None:
    # Admission keeps requests from waiting for a thread (see the pool tests below), but between
    # submit and start a handler is still queued for a moment: hold it there and cancel it.
    pool = HeldExecutor()
    worker.dispatcher._executor = pool  # type: ignore[assignment]
    request(worker, "queued", "t/echo", {"value": "should not run"})
    assert len(pool.held) == 1
    cancel(worker, "queued")
    assert [code(m) for m in worker.outbox.responses_to("queued")] == [-32800]
    assert worker.dispatcher.abandoned_handlers == 0  # it never started: no thread is stuck
    pool.held, held = [], pool.held
    for fn, args in held:
        fn(*args)
    assert "should not run" not in worker.state.service(Probe).ran
    assert [code(m) for m in worker.outbox.responses_to("queued")] == [-32800]
    assert worker.dispatcher.running_handlers == 0 and worker.dispatcher.abandoned_handlers == 0
    # Nothing ran when it was answered, so the answer says nothing runs, and nothing follows it.
    assert "data" not in worker.outbox.response("queued")["error"]
    assert handler_dones(worker, "queued") == []


def test_a_handler_thread_that_cannot_be_started_is_answered_32008_and_frees_its_slot(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under an address-space cap a new thread's stack may not fit: the request must still be answered.
    worker = make_worker(max_inflight=1)

    def no_thread(*args: Any) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(worker.dispatcher._executor, "submit", no_thread)
    request(worker, 1, "t/echo", {"value": 1})
    answer = worker.outbox.response(1)
    assert code(answer) == -32008 and "cannot start a handler thread" in answer["error"]["message"]
    worker.feed({"jsonrpc": "2.0", "method": "t/echo", "params": {"value": "notified"}})
    assert worker.dispatcher.inflight == 0 and worker.dispatcher._notifications == 0
    monkeypatch.undo()
    request(worker, 2, "t/echo", {"value": 2})
    assert worker.outbox.response(2)["result"] == 2


@pytest.mark.parametrize("failure", [MemoryError(), RecursionError("deep")])
def test_a_request_whose_params_fail_to_decode_unexpectedly_is_answered_and_leaves_nothing_in_flight(
    make_worker: Any, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    # Admitted before its params decode: memory running out while they do (a small frame can decode
    # to a huge list) must answer that request, not leave it in flight until the worker ends.
    worker = make_worker(max_inflight=1)
    real = worker.dispatcher._decode
    failures = [failure]

    def decode(method: Any, req: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(method, req)

    monkeypatch.setattr(worker.dispatcher, "_decode", decode)
    request(worker, 7, "t/echo", {"value": 1})
    answer = worker.outbox.response(7)
    expected = -32008 if isinstance(failure, MemoryError) else -32000
    assert code(answer) == expected
    assert worker.dispatcher.inflight == 0
    request(worker, 7, "t/echo", {"value": 2})  # the id is free again, and max_inflight=1 has room
    assert worker.outbox.wait_for(lambda m: m.get("id") == 7 and "result" in m)["result"] == 2


def test_requests_cancelled_by_a_shutdown_report_their_handlers_stopping_too(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, "s1", "t/block")
    probe.wait_started()
    worker.dispatcher.begin_draining()
    assert worker.dispatcher.cancel_all() == 1  # what a shutdown does at the end of its grace
    answer = worker.outbox.response("s1")
    assert answer["error"]["message"] == "worker is shutting down"
    assert answer["error"]["data"] == {"handler_running": True}
    probe.release.set()
    worker.outbox.wait_for(is_handler_done("s1"))
    worker.wait_idle()
    assert len(handler_dones(worker, "s1")) == 1


def test_a_handler_that_returns_while_its_cancel_answer_is_written_is_reported_once_after_it(
    worker: MemoryWorker,
) -> None:
    # The handler ends between the cancel's decision (it runs) and the end of that answer's write:
    # the cancel's side, not the handler's, sends worker/handlerDone, after the answer.
    probe = worker.state.service(Probe)
    plain_send = worker.dispatcher.send

    def send(message: Any) -> None:
        plain_send(message)
        if isinstance(message, ErrorResponse) and message.id == "w1":
            probe.release.set()
            deadline = time.monotonic() + 5
            while worker.dispatcher.running_handlers:
                assert time.monotonic() < deadline, "the released handler never returned"
                time.sleep(0.002)

    worker.dispatcher.send = send
    request(worker, "w1", "t/block")
    probe.wait_started()
    cancel(worker, "w1")
    # cancel() returned: the handler had ended during the write, and its news was sent meanwhile.
    (done,) = handler_dones(worker, "w1")
    sent = worker.outbox.snapshot()
    assert sent.index(worker.outbox.response("w1")) < sent.index(done)
    assert worker.outbox.response("w1")["error"]["data"] == {"handler_running": True}
    assert worker.dispatcher.abandoned_handlers == 0


def test_in_a_batch_handler_done_follows_the_array_that_holds_the_cancel_answer(worker: MemoryWorker) -> None:
    # The -32800 of a batch element is on the wire only with the batch's array, sent once its last
    # element is answered: a handlerDone sent before it would speak of an answer not yet given.
    probe = worker.state.service(Probe)
    worker.feed(
        [
            {"jsonrpc": "2.0", "id": "a", "method": "t/block"},
            {"jsonrpc": "2.0", "id": "c", "method": "t/cooperative"},
        ]
    )
    probe.wait_started(2)
    cancel(worker, "a")
    probe.release.set()
    deadline = time.monotonic() + 5
    while worker.dispatcher.abandoned_handlers:  # t/block has returned; "c" still holds the array
        assert time.monotonic() < deadline, "the released handler never returned"
        time.sleep(0.002)
    assert handler_dones(worker, "a") == []
    cancel(worker, "c")  # the array's last answer
    done_a = worker.outbox.wait_for(is_handler_done("a"))
    worker.outbox.wait_for(is_handler_done("c"))
    sent = worker.outbox.snapshot()
    (array,) = [m for m in sent if isinstance(m, list)]
    assert sorted((m["id"], m["error"].get("data")) for m in array) == [
        ("a", {"handler_running": True}),
        ("c", {"handler_running": True}),
    ]
    assert sent.index(array) < sent.index(done_a)
    assert len(handler_dones(worker, "a")) == 1 and len(handler_dones(worker, "c")) == 1


# ---- handlers that outlive their request ----------------------------------------------------


def fill_pool_with_abandoned_handlers(worker: MemoryWorker) -> int:
    """Start and cancel blockers until they hold every handler thread; returns how many."""
    probe = worker.state.service(Probe)
    threads = worker.dispatcher.handler_threads
    for i in range(threads):
        request(worker, f"b{i}", "t/block")
        probe.wait_started()
        cancel(worker, f"b{i}")
        assert [code(m) for m in worker.outbox.responses_to(f"b{i}")] == [-32800]
    assert worker.dispatcher.abandoned_handlers == threads
    return threads


def test_when_abandoned_handlers_hold_every_thread_requests_are_refused_not_queued(make_worker: Any) -> None:
    worker = make_worker(max_inflight=1)
    probe = worker.state.service(Probe)
    threads = fill_pool_with_abandoned_handlers(worker)
    assert threads == 2 * 1 + 16
    request(worker, "next", "t/echo", {"value": "would wait for ever"})
    (refused,) = worker.outbox.responses_to("next")
    assert code(refused) == -32001
    assert "abandoned_handlers" in refused["error"]["message"] and str(threads) in refused["error"]["message"]
    # A notification call would wait for a thread as well: dropped, like one past its own bound.
    worker.feed({"jsonrpc": "2.0", "method": "t/echo", "params": {"value": "notified"}})
    # Inline methods still answer, and worker/info counts what is stuck.
    request(worker, "ping", "worker/ping", [1])
    assert worker.outbox.response("ping")["result"] == [1]
    request(worker, "info", "worker/info")
    info = worker.outbox.response("info")["result"]
    assert info["abandoned_handlers"] == threads and info["running_handlers"] == threads
    assert info["handler_threads"] == threads and info["inflight"] == 0
    # Once they return, their threads are free again.
    probe.release.set()
    worker.wait_idle()
    assert worker.dispatcher.abandoned_handlers == 0
    request(worker, "after", "t/echo", {"value": "after"})
    assert worker.outbox.response("after")["result"] == "after"
    worker.close()
    assert probe.ran == ["after"], "the dropped notification ran"


def test_a_handler_that_stops_when_cancelled_is_abandoned_only_until_it_returns(worker: MemoryWorker) -> None:
    request(worker, 1, "t/cooperative")
    worker.state.service(Probe).wait_started()
    cancel(worker, 1)
    worker.wait_idle()
    assert worker.dispatcher.abandoned_handlers == 0
    assert [code(m) for m in worker.outbox.responses_to(1)] == [-32800]


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


@pytest.mark.parametrize("method", ["worker/ping", "worker/info", "t/inline"])
def test_an_inline_method_with_an_id_in_flight_is_refused_too(worker: MemoryWorker, method: str) -> None:
    probe = worker.state.service(Probe)
    request(worker, 5, "t/block")
    probe.wait_started()
    request(worker, 5, method)
    (refused,) = worker.outbox.responses_to(5)
    assert code(refused) == -32600 and "already in flight" in refused["error"]["message"]
    assert worker.state.service(Probe).threads == [], "the inline method ran"
    probe.release.set()
    worker.wait_idle()
    assert [m.get("result", code(m)) for m in worker.outbox.responses_to(5)] == [-32600, "late result"]


def test_ids_repeated_within_a_batch_are_refused_whatever_the_method(worker: MemoryWorker) -> None:
    worker.feed(
        [
            {"jsonrpc": "2.0", "id": 7, "method": "worker/ping", "params": ["first"]},
            {"jsonrpc": "2.0", "id": 7, "method": "worker/ping", "params": ["second"]},
            {"jsonrpc": "2.0", "id": "e", "method": "t/echo", "params": {"value": "first"}},
            {"jsonrpc": "2.0", "id": "e", "method": "t/echo", "params": {"value": "second"}},
            {"jsonrpc": "2.0", "id": "e", "method": "worker/info"},
            # The method is checked first (protocol.md §4): both are unknown, whatever their ids.
            {"jsonrpc": "2.0", "id": 9, "method": "no/such"},
            {"jsonrpc": "2.0", "id": 9, "method": "no/such"},
        ]
    )
    batch = worker.outbox.wait_for(lambda m: isinstance(m, list))
    by_id: dict[Any, list[Any]] = {}
    for answer in batch:
        by_id.setdefault(answer["id"], []).append(answer.get("result", code(answer)))
    assert sorted(by_id[7], key=str) == [-32600, ["first"]]
    assert sorted(by_id["e"], key=str) == [-32600, -32600, "first"]
    assert by_id[9] == [-32601, -32601]
    worker.close()
    assert worker.state.service(Probe).ran == ["first"]


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
    worker.close()  # runs whatever was queued: a notification that was not dropped would run now
    assert not probe.started.acquire(blocking=False), "a dropped notification ran"
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


class HeldAnswer:
    """Holds the writing of the answer whose result is ``value`` until released: the moment when a
    call is answered (done) but not yet forgotten."""

    def __init__(self, worker: MemoryWorker, value: Any) -> None:
        self.writing = threading.Event()
        self.held = threading.Semaphore(0)  # one release per answer held
        self.go_on = threading.Event()
        send = worker.dispatcher.send

        def held_send(message: Any) -> None:
            if getattr(message, "result", None) == value:
                self.writing.set()
                self.held.release()
                assert self.go_on.wait(10)
            send(message)

        worker.dispatcher.send = held_send


def test_a_call_whose_answer_is_being_written_holds_neither_its_id_nor_its_slot(make_worker: Any) -> None:
    # A client that has read an answer may reuse its id, or send its next request, at once.
    worker = make_worker(max_inflight=1)
    held = HeldAnswer(worker, "slow")
    request(worker, "a", "t/echo", {"value": "slow"})
    assert held.writing.wait(5)
    request(worker, "a", "t/echo", {"value": "again"})
    assert worker.outbox.response("a")["result"] == "again"  # neither -32600 nor -32001
    held.go_on.set()
    worker.wait_idle()
    assert sorted(m["result"] for m in worker.outbox.responses_to("a")) == ["again", "slow"]


def test_idle_waits_for_an_answer_still_being_written_when_its_id_was_reused(worker: MemoryWorker) -> None:
    # Found by the fuzzer: request A's answer is being written, B reuses A's id and takes its place
    # in the in-flight table, B is answered. The worker is not idle until A's answer is out too (at
    # end of input it exits when idle, and A's answer would be lost).
    held = HeldAnswer(worker, "slow")
    request(worker, 40, "t/echo", {"value": "slow"})
    assert held.writing.wait(5)
    request(worker, 40, "t/echo", {"value": "again"})
    assert worker.outbox.response(40)["result"] == "again"
    assert not worker.dispatcher.wait_idle(0)
    held.go_on.set()
    assert worker.dispatcher.wait_idle(5)
    assert sorted(m["result"] for m in worker.outbox.responses_to(40)) == ["again", "slow"]


def test_handler_threads_writing_their_answers_still_count_as_taken(make_worker: Any) -> None:
    # A host that does not read holds answers in the writer; their threads are not free for new work.
    worker = make_worker(max_inflight=1)
    held = HeldAnswer(worker, "slow")
    threads = worker.dispatcher.handler_threads
    for i in range(threads):
        request(worker, i, "t/echo", {"value": "slow"})  # admitted: each earlier one is answered
        assert held.held.acquire(timeout=5)
    request(worker, "next", "t/echo", {"value": "next"})
    assert code(worker.outbox.response("next")) == -32001
    held.go_on.set()
    worker.wait_idle()
    assert sorted(m["id"] for m in worker.outbox.snapshot() if m.get("result") == "slow") == list(
        range(threads)
    )


def test_shutdown_counts_a_call_answered_by_the_deadline_as_completed_and_answers_last(
    worker: MemoryWorker,
) -> None:
    held = HeldAnswer(worker, "slow")
    request(worker, 1, "t/echo", {"value": "slow"})
    assert held.writing.wait(5)
    request(worker, 2, "worker/shutdown", {"grace_seconds": 0})
    wait_until_draining(worker)
    held.go_on.set()
    assert worker.outbox.response(2)["result"] == {"completed": True, "cancelled": 0}
    sent = [m["id"] for m in worker.outbox.snapshot()]
    assert sent == [1, 2]  # the answer being written went out before the shutdown's


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
    worker.outbox.wait_for(is_handler_done(9))  # the last thing it sends: its handler has returned
    worker.wait_idle()
    sent = worker.outbox.snapshot()
    assert [
        m.get("params", {}).get("value") if m.get("method") == "$/progress" else code(m) for m in sent
    ] == [
        "before",
        -32800,
        None,  # worker/handlerDone
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
        {
            "jsonrpc": "2.0",
            "id": "b",
            "error": {"code": -32800, "message": "request cancelled", "data": {"handler_running": True}},
        },
    ]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_a_batch_over_max_inflight_is_refused_as_a_whole_before_any_of_it_runs(
    make_worker: Any, encoding: str
) -> None:
    worker = make_worker(encoding=encoding, max_inflight=4)
    calls = [{"jsonrpc": "2.0", "id": i, "method": "t/echo", "params": {"value": i}} for i in range(5)]
    worker.feed(calls)
    (refused,) = worker.outbox.snapshot()
    assert refused["id"] is None and code(refused) == -32600
    assert "the limit is 4 (--max-inflight)" in refused["error"]["message"]
    worker.feed(calls[:4])
    batch = worker.outbox.wait_for(lambda m: isinstance(m, list))
    assert sorted(m["result"] for m in batch) == [0, 1, 2, 3]
    worker.close()
    assert sorted(worker.state.service(Probe).ran) == [0, 1, 2, 3]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_a_huge_batch_is_refused_without_decoding_its_elements(make_worker: Any, encoding: str) -> None:
    # The attack of issue 9: 10 MB of tiny elements once took 5 GB and ended in one -32603.
    worker = make_worker(encoding=encoding)
    payload = worker.encode([1] * 5_000_000)
    tracemalloc.start()
    try:
        worker.dispatcher.handle_frame(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (refused,) = worker.outbox.snapshot()
    assert refused["id"] is None and code(refused) == -32600
    assert "the limit is 256" in refused["error"]["message"]
    # One Raw per element would be 5,000,000 objects (over 200 MB); nothing of the kind was built.
    assert peak < 1_000_000, f"{peak} bytes allocated to refuse the batch"


def test_a_json_batch_with_many_commas_inside_its_elements_is_counted_by_elements(make_worker: Any) -> None:
    worker = make_worker(max_inflight=2)
    many = list(range(50))  # 49 commas inside one element
    worker.feed(
        [{"jsonrpc": "2.0", "id": i, "method": "t/echo", "params": {"value": many}} for i in range(2)]
    )
    batch = worker.outbox.wait_for(lambda m: isinstance(m, list))
    assert [m["result"] for m in batch] == [many, many]
    worker.feed(
        [{"jsonrpc": "2.0", "id": i, "method": "t/echo", "params": {"value": many}} for i in range(3)]
    )
    refused = worker.outbox.wait_for(lambda m: isinstance(m, dict) and m.get("id", 0) is None)
    assert code(refused) == -32600 and "more than 2 elements" in refused["error"]["message"]


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_a_batch_whose_answers_could_not_fit_one_frame_is_refused_before_it_runs(
    make_worker: Any, encoding: str
) -> None:
    worker = make_worker(encoding=encoding, max_frame_bytes=1000)
    calls = [
        {"jsonrpc": "2.0", "id": f"id-{i}", "method": "t/echo", "params": {"value": i}} for i in range(20)
    ]
    worker.feed(calls)
    (refused,) = worker.outbox.snapshot()
    assert refused["id"] is None and code(refused) == -32600
    assert "over the frame limit of 1000 bytes" in refused["error"]["message"]
    worker.feed(calls[:5])  # five short errors fit in 1000 bytes: the batch runs
    batch = worker.outbox.wait_for(lambda m: isinstance(m, list))
    assert sorted(m["result"] for m in batch) == [0, 1, 2, 3, 4]
    worker.close()
    assert sorted(worker.state.service(Probe).ran) == [0, 1, 2, 3, 4]


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


def test_a_request_read_right_behind_a_shutdown_is_refused_whatever_the_stop_thread_does(
    worker: MemoryWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stop's own thread may not have run yet when the reader takes the next frame (a busy
    # machine): the reader must already refuse it. The stop thread is held back here to make sure.
    held: list[tuple[Any, ...]] = []

    class HeldStops:
        put = staticmethod(held.append)

    monkeypatch.setattr(worker.dispatcher, "_stops", HeldStops())
    request(worker, 2, "worker/shutdown", {"grace_seconds": 0})
    request(worker, 3, "t/echo", {"value": 1})
    assert code(worker.outbox.response(3)) == -32003
    monkeypatch.undo()
    fn, args = held[0]
    fn(*args)  # the stop runs now, late, and completes as usual
    assert worker.outbox.response(2)["result"] == {"completed": True, "cancelled": 0}


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


def test_a_shutdown_sent_as_a_notification_drains_and_stops_the_worker(worker: MemoryWorker) -> None:
    probe = worker.state.service(Probe)
    request(worker, 1, "t/block")
    probe.wait_started()
    worker.feed({"jsonrpc": "2.0", "method": "worker/shutdown", "params": {"grace_seconds": 30}})
    wait_until_draining(worker)
    assert worker.stops == []
    probe.release.set()
    assert worker.outbox.response(1)["result"] == "late result"
    deadline = time.monotonic() + 5
    while not worker.stops and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.stops == [("shutdown", 0)]
    assert worker.outbox.responses_to(None) == []  # a notification is never answered


@pytest.mark.parametrize(
    "grace",
    [math.inf, -math.inf, math.nan, 1e300, -1.0, 3600.5],
    ids=["inf", "-inf", "nan", "1e300", "-1", "3600.5"],
)
def test_a_grace_that_is_not_a_finite_0_to_3600_is_invalid_params_and_nothing_drains(
    make_worker: Any, grace: float
) -> None:
    worker = make_worker(encoding="msgpack")  # MessagePack carries inf and NaN; JSON cannot
    request(worker, 1, "worker/shutdown", {"grace_seconds": grace})
    answer = worker.outbox.response(1)
    assert code(answer) == -32602 and "grace_seconds" in answer["error"]["message"]
    worker.feed({"jsonrpc": "2.0", "method": "worker/shutdown", "params": {"grace_seconds": grace}})
    request(worker, 2, "t/echo", {"value": "still serving"})
    assert worker.outbox.response(2)["result"] == "still serving"
    worker.close()
    assert not worker.dispatcher._draining and worker.stops == []


def test_a_grace_of_1e400_in_json_is_invalid_params(worker: MemoryWorker) -> None:
    worker.dispatcher.handle_frame(
        b'{"jsonrpc":"2.0","id":1,"method":"worker/shutdown","params":{"grace_seconds":1e400}}'
    )
    assert code(worker.outbox.response(1)) == -32602
    assert not worker.dispatcher._draining


@pytest.mark.parametrize("grace", [0, 3600])
def test_a_grace_at_either_end_of_its_range_is_accepted(worker: MemoryWorker, grace: float) -> None:
    request(worker, 1, "worker/shutdown", {"grace_seconds": grace})
    assert worker.outbox.response(1)["result"] == {"completed": True, "cancelled": 0}
    worker.wait_idle()
    assert worker.stops == [("shutdown", 0)]


def test_raw_params_reach_a_raw_method_untouched(worker: MemoryWorker) -> None:
    request(worker, 1, "worker/ping", [1, {"b": [2.5, None]}])
    assert worker.outbox.response(1)["result"] == [1, {"b": [2.5, None]}]


@pytest.mark.parametrize("method", ["t/inline", "t/echo", "no/such-method"])
def test_an_id_too_long_for_any_answer_is_refused_with_a_null_id(make_worker: Any, method: str) -> None:
    # Every answer echoes the id; under --max-frame-bytes 4096 a 5,000-character id fits in no frame.
    worker = make_worker(max_frame_bytes=4096)
    request(worker, "x" * 5000, method, {"value": 1})
    request(worker, "y" * 3000, "t/inline", {"value": 2})  # long, but an answer can carry it
    refused = worker.outbox.wait_for(lambda m: m.get("id") is None)
    assert code(refused) == -32600 and "5000 characters" in refused["error"]["message"]
    assert worker.outbox.response("y" * 3000)["result"] == 2


def test_a_json_integer_id_too_long_for_any_answer_is_refused_with_a_null_id(make_worker: Any) -> None:
    # JSON integers have any number of digits (msgspec takes about 4,300): as long as a string id.
    worker = make_worker(encoding="json", max_frame_bytes=4096)
    request(worker, int("7" * 4040), "no/such-method")
    request(worker, int("7" * 1000), "t/inline", {"value": 2})
    refused = worker.outbox.wait_for(lambda m: m.get("id") is None)
    assert code(refused) == -32600 and "4040 characters" in refused["error"]["message"]
    assert worker.outbox.response(int("7" * 1000))["result"] == 2


def _progress_held_by_the_host() -> tuple[Any, list[Any], threading.Event, threading.Event]:
    """A Call whose progress report is being written to a host that does not read (until ``gate``)."""
    from worker.rpc.messages import OutgoingNotification
    from worker.runtime.dispatch import Call

    written: list[Any] = []
    writing, gate = threading.Event(), threading.Event()

    def send(message: Any) -> None:
        if isinstance(message, OutgoingNotification):
            writing.set()
            assert gate.wait(30)
        written.append(message)

    call = Call(1, "t/echo", RequestContext(id=1, method="t/echo", state=None), written.append)  # type: ignore[arg-type]
    threading.Thread(target=call.send_progress, args=(send, "tok", 1), daemon=True).start()
    assert writing.wait(5)
    return call, written, writing, gate


def test_a_progress_report_that_began_first_is_written_before_the_response() -> None:
    call, written, _, gate = _progress_held_by_the_host()
    threading.Timer(0.05, gate.set).start()  # the host reads again, well within the wait
    assert call.finish("the response")  # type: ignore[arg-type]
    assert [type(m).__name__ for m in written] == ["OutgoingNotification", "str"]


def test_a_cancel_does_not_wait_for_ever_on_a_progress_report_the_host_does_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found in review: the report was written under the call's lock, so a cancel (or a shutdown's)
    # waited as long as the host did not read, and a stop never completed.
    import worker.runtime.dispatch as dispatch

    monkeypatch.setattr(dispatch, "PROGRESS_FIRST_SECONDS", 0.2)
    call, written, _, gate = _progress_held_by_the_host()
    assert call.finish("the response")  # type: ignore[arg-type]
    assert written == ["the response"]
    gate.set()
