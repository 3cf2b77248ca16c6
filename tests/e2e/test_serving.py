"""The real worker keeps serving through everything a host can throw at it, on every wire.

One worker per transport × framing × encoding serves this whole module (tests run in file order
for each wire); tests that end the process live in test_lifecycle.py.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable

import pytest

from tests.e2e.conftest import SMALL_FRAME_LIMIT
from tests.e2e.wire import WorkerProcess, error_code, is_response

pytestmark = pytest.mark.e2e


def test_ready_comes_first_fast_and_before_torch(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    first = w.all_messages()[0]
    assert first is w.ready
    assert first["jsonrpc"] == "2.0" and first["method"] == "worker/ready" and "id" not in first
    params = first["params"]
    assert params["protocol"] == 1
    assert params["pid"] == w.proc.pid
    assert (params["transport"], params["framing"], params["encoding"]) == (
        w.wire.transport,
        w.wire.framing,
        w.wire.encoding,
    )
    assert {"worker/ping", "worker/info", "worker/shutdown", "test/sleep", "test/hang"} <= set(
        params["methods"]
    )
    assert params["methods"] == sorted(params["methods"])
    assert params["max_frame_bytes"] == SMALL_FRAME_LIMIT
    # The real start-up time is measured in bench/; here only "not stuck importing something heavy".
    assert w.ready_seconds < 10
    info = w.call("worker/info")["result"]
    assert info["torch_loaded"] is False


@pytest.mark.parametrize(
    "params",
    [{"hi": 1}, {"nested": {"list": [1, 2.5, None, True, "é✓"]}}, [1, "two"], {}, []],
    ids=["object", "nested", "array", "empty-object", "empty-array"],
)
def test_ping_returns_its_params(shared_worker: WorkerProcess, params: object) -> None:
    response = shared_worker.call("worker/ping", params)
    assert response == {"jsonrpc": "2.0", "id": response["id"], "result": params}


def test_ping_without_params_returns_null(shared_worker: WorkerProcess) -> None:
    response = shared_worker.call("worker/ping")
    assert "error" not in response and response["result"] is None


def test_ping_returns_binary_as_sent(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    blob = bytes(range(256))
    if w.wire.encoding == "msgpack":
        assert w.call("worker/ping", {"blob": blob})["result"] == {"blob": blob}
    else:
        pytest.skip("JSON has no binary type (bytes are base64 strings)")


def test_info_reports_the_configuration(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    info = w.call("worker/info")["result"]
    assert info["pid"] == w.proc.pid
    assert info["protocol"] == 1
    assert (info["transport"], info["framing"], info["encoding"]) == (
        w.wire.transport,
        w.wire.framing,
        w.wire.encoding,
    )
    assert info["max_frame_bytes"] == SMALL_FRAME_LIMIT
    assert info["max_inflight"] == 256
    assert info["uptime_seconds"] > 0
    assert info["rss_bytes"] > 1_000_000
    assert info["peak_rss_bytes"] >= info["rss_bytes"]


def test_batch_gets_one_array_holding_one_response_per_request(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    tag = uuid.uuid4().hex[:8]
    batch = [
        {"jsonrpc": "2.0", "id": f"ping-{tag}", "method": "worker/ping", "params": {"n": 1}},
        {"jsonrpc": "2.0", "method": "worker/ping", "params": {"not": "answered"}},
        {"jsonrpc": "2.0", "id": f"echo-{tag}", "method": "test/echo", "params": {"value": [1, 2]}},
        {"jsonrpc": "2.0", "id": f"nope-{tag}", "method": "no/such/method"},
        42,
        {"foo": "boo"},
    ]
    mark = w.mark()
    w.send(batch)
    answer = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the batch response")
    by_id = {r["id"]: r for r in answer if r["id"] is not None}
    assert len(answer) == 5
    assert by_id[f"ping-{tag}"]["result"] == {"n": 1}
    assert by_id[f"echo-{tag}"]["result"] == [1, 2]
    assert error_code(by_id[f"nope-{tag}"]) == -32601
    nulls = [r for r in answer if r["id"] is None]
    assert [error_code(r) for r in nulls] == [-32600, -32600]


def test_batch_of_notifications_gets_nothing_and_empty_batch_one_error(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    mark = w.mark()
    w.send([{"jsonrpc": "2.0", "method": "worker/ping"}, {"jsonrpc": "2.0", "method": "test/echo"}])
    w.send([])
    empty = w.wait_for(lambda m: is_response(m) and m["id"] is None, after=mark, what="the empty-batch error")
    assert error_code(empty) == -32600
    w.call("worker/ping")
    assert not any(isinstance(m, list) for m in w.all_messages(mark))


def test_parse_error_is_answered_and_the_worker_keeps_serving(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    garbage = (
        b"\xc1\xc1 not msgpack"
        if w.wire.encoding == "msgpack"
        else b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]'
    )
    mark = w.mark()
    w.send_payload(garbage)
    error = w.wait_for(lambda m: is_response(m), after=mark, what="the parse error")
    assert error["id"] is None and error_code(error) == -32700
    assert w.call("worker/ping", {"after": "parse error"})["result"] == {"after": "parse error"}


def test_oversized_frame_is_skipped_and_the_stream_stays_in_step(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    big = w.wire.encode(
        {
            "jsonrpc": "2.0",
            "id": "big",
            "method": "worker/ping",
            "params": {"x": "a" * (SMALL_FRAME_LIMIT + 10)},
        }
    )
    follower = w.wire.encode(
        {"jsonrpc": "2.0", "id": "after-big", "method": "worker/ping", "params": {"ok": 1}}
    )
    # Its id comes before its params, as clients write them: the id is read from the dropped frame's
    # first bytes and the request gets its own answer.
    # One write, so the follower sits right behind the oversized frame in the worker's input.
    w.send_raw(w.wire.wrap(big) + w.wire.wrap(follower))
    too_large = w.response("big")
    assert error_code(too_large) == -32002 and "exceeds the limit" in too_large["error"]["message"]
    assert w.response("after-big")["result"] == {"ok": 1}
    assert len(w.responses_to("big")) == 1
    # An id behind the large params cannot be told from the frame's head: id null, nothing guessed.
    hidden = w.wire.encode(
        {
            "jsonrpc": "2.0",
            "method": "worker/ping",
            "params": {"x": "a" * (SMALL_FRAME_LIMIT + 10)},
            "id": "hid",
        }
    )
    mark = w.mark()
    w.send_raw(w.wire.wrap(hidden))
    unknown = w.wait_for(lambda m: is_response(m), after=mark, what="the frame-too-large error")
    assert unknown["id"] is None and error_code(unknown) == -32002
    assert w.responses_to("hid") == []


def test_errors_name_the_problem(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    assert error_code(w.call("no/such")) == -32601
    bad = w.call("test/sleep", {"seconds": "soon"})
    assert error_code(bad) == -32602 and "$.seconds" in bad["error"]["message"]
    assert bad["error"]["data"]["type"] == "InvalidParams"
    assert error_code(w.call("test/sleep", [1])) == -32602
    assert error_code(w.call("test/sleep", {"secnds": 1})) == -32602
    for bad_id in (None, True):
        mark = w.mark()
        w.request("worker/ping", id=bad_id)
        answer = w.wait_for(is_response, after=mark, what=f"the answer to id {bad_id!r}")
        assert answer["id"] is None and error_code(answer) == -32600


def is_handler_done(id: object) -> Callable[[object], bool]:
    return lambda m: (
        isinstance(m, dict) and m.get("method") == "worker/handlerDone" and m["params"]["id"] == id
    )


def test_cancelled_sleep_is_answered_at_once(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    rid = w.request("test/sleep", {"seconds": 3600})
    w.call("worker/ping")  # the sleep is surely in flight now
    w.cancel(rid)
    # An hour's sleep: any answer within the wait below came from the cancel, not from the sleep ending.
    answer = w.response(rid, timeout=30)
    assert error_code(answer) == -32800
    w.cancel(rid)  # already answered: ignored
    w.cancel(987654321)  # never existed: ignored
    w.call("worker/ping")
    assert len(w.responses_to(rid)) == 1


def test_hang_that_ignores_cancel_is_answered_at_once_and_ping_still_works(
    shared_worker: WorkerProcess,
) -> None:
    w = shared_worker
    # The hang ends only when released (or after an hour), so whatever the machine's load, every step
    # below happens while it runs: no step depends on how long anything takes.
    rid, key = w.hang_until_released()
    ping = w.call("worker/ping", {"during": "hang"})
    assert ping["result"] == {"during": "hang"}
    mark = w.mark()
    w.cancel(rid)
    answer = w.response(rid)
    assert error_code(answer) == -32800  # answered while the hang still runs: the cancel did not wait
    assert answer["error"]["data"] == {"handler_running": True}  # and it says the work goes on
    info = w.call("worker/info")["result"]
    assert info["running_handlers"] >= 1 and info["abandoned_handlers"] >= 1  # still running, unanswerable
    assert w.call("test/release", {"key": key})["result"] == {"waiting": 1}
    # The worker tells the host, and logs, when the abandoned handler has really stopped; its late
    # result is dropped.
    done = w.wait_for(is_handler_done(rid), after=mark, what="worker/handlerDone", timeout=30)
    assert done["params"]["method"] == "test/hang" and done["params"]["seconds_after_answer"] >= 0
    assert w.all_messages(after=mark).index(answer) < w.all_messages(after=mark).index(done)
    w.wait_stderr(f"test/hang (id {rid!r}) stopped", timeout=30)
    assert w.call("worker/info")["result"]["abandoned_handlers"] == 0
    w.call("worker/ping")
    assert len(w.responses_to(rid)) == 1
    assert len([m for m in w.all_messages(after=mark) if is_handler_done(rid)(m)]) == 1


def test_a_hang_holding_the_gil_freezes_ping_until_it_ends(shared_worker: WorkerProcess) -> None:
    # The signal a supervisor relies on: a stuck C extension stops even worker/ping from answering.
    w = shared_worker
    # The ping is sent once the test has read the hold's beginning; a busy machine may delay that
    # reading, so the hold is long and the bound below a third of it.
    hold = 1.5
    token = "gil-hold"
    mark = w.mark()  # the shared worker's log also holds other tests' messages, batches among them
    rid = w.request("test/hang", {"seconds": hold, "hold_gil": True, "progressToken": token})
    # Sent just before the hold begins: the ping goes out while the GIL is held.
    began = w.wait_for(
        lambda m: isinstance(m, dict) and m.get("method") == "$/progress" and m["params"]["token"] == token,
        what="the hang beginning",
        after=mark,
    )
    ping = w.call("worker/ping", {"frozen": True}, timeout=5)
    assert ping["result"] == {"frozen": True}
    # Answered only once the hold ended.
    assert w.arrival(ping) - w.arrival(began) > hold / 3
    assert "result" in w.response(rid)


def test_duplicate_id_in_flight_is_refused(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    rid = f"dup-{uuid.uuid4().hex[:6]}"
    w.request("test/sleep", {"seconds": 3600}, id=rid)
    w.call("worker/ping")
    mark = w.mark()
    w.request("test/sleep", {"seconds": 0}, id=rid)
    refused = w.wait_for(lambda m: is_response(m) and m["id"] == rid, after=mark)
    assert error_code(refused) == -32600
    w.cancel(rid)
    cancelled = w.wait_for(lambda m: is_response(m) and m["id"] == rid and m is not refused, after=mark)
    assert error_code(cancelled) == -32800


def test_progress_arrives_before_the_response_and_never_after(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    token = f"tok-{uuid.uuid4().hex[:6]}"
    mark = w.mark()
    rid = w.request("test/sleep", {"seconds": 0.2, "progress_interval": 0.05, "progressToken": token})
    response = w.response(rid, timeout=5)
    assert "result" in response
    time.sleep(0.1)
    w.call("worker/ping")
    log = w.all_messages(mark)
    progress = [
        i for i, m in enumerate(log) if m.get("method") == "$/progress" and m["params"]["token"] == token
    ]
    assert len(progress) == 4
    assert max(progress) < log.index(response)
    fractions = [log[i]["params"]["value"]["fraction"] for i in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_stdout_pollution_goes_to_stderr_not_the_stream(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    text = f"stray-{uuid.uuid4().hex}"
    response = w.call("test/print", {"text": text})
    channels = response["result"]["channels"]
    assert {"print", "sys.stdout", "fd1"} <= set(channels)
    deadline = time.monotonic() + 5
    while w.stderr_count(text) < len(channels) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert w.stderr_count(text) == len(channels)
    assert w.call("worker/ping", {"still": "framed"})["result"] == {"still": "framed"}
    assert w.protocol_errors == []
    if w.wire.transport == "pipe":
        assert w.stdout_bytes() == b""


def test_requests_written_byte_by_byte_are_read(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    frame = w.wire.wrap(
        w.wire.encode({"jsonrpc": "2.0", "id": "slow-writer", "method": "worker/ping", "params": [7]})
    )
    for i in range(len(frame)):
        w.send_raw(frame[i : i + 1])
    assert w.response("slow-writer")["result"] == [7]


def test_many_requests_in_flight_get_one_response_each(shared_worker: WorkerProcess) -> None:
    w = shared_worker
    mark = w.mark()
    ids = [f"many-{i}" for i in range(100)]
    data = b"".join(
        w.wire.wrap(
            w.wire.encode({"jsonrpc": "2.0", "id": rid, "method": "test/echo", "params": {"value": rid}})
        )
        for rid in ids
    )
    w.send_raw(data)
    for rid in ids:
        assert w.response(rid)["result"] == rid
    w.call("worker/ping")
    answered = [m["id"] for m in w.all_messages(mark) if is_response(m) and str(m["id"]).startswith("many-")]
    assert sorted(answered) == sorted(ids)


def test_lsp_bad_header_block_is_a_parse_error_and_the_next_message_is_read(
    shared_worker: WorkerProcess,
) -> None:
    w = shared_worker
    if w.wire.framing != "lsp":
        pytest.skip("LSP headers exist only with --framing lsp")
    follower = w.wire.wrap(
        w.wire.encode({"jsonrpc": "2.0", "id": "after-bad-header", "method": "worker/ping"})
    )
    mark = w.mark()
    w.send_raw(b"Content-Length: -5\r\n\r\n" + follower)
    error = w.wait_for(is_response, after=mark, what="the parse error")
    assert error["id"] is None and error_code(error) == -32700
    assert w.response("after-bad-header")["result"] is None


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), 1e308, -1.0], ids=str)
def test_a_sleep_that_is_not_a_finite_wait_is_invalid_params(
    shared_worker: WorkerProcess, seconds: float
) -> None:
    if shared_worker.wire.encoding == "json" and not math.isfinite(seconds):
        pytest.skip("JSON has no NaN or infinity")
    answer = shared_worker.call("test/sleep", {"seconds": seconds})
    assert error_code(answer) == -32602, answer
    assert "finite number from 0 to 86400" in answer["error"]["message"]
