"""Shutdown against a real worker under an address-space cap: once begun it always completes, and a
grace that is not a finite number from 0 to 3600 is refused without draining anything.

Before the fix, ``worker/shutdown`` sent as a notification started draining and never exited (every
later request got -32003 until end of input); a ``grace_seconds`` of ``inf`` or ``1e300`` answered
-32000 (OverflowError) and left the same half-dead worker; NaN waited for ever.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.e2e.wire import Wire, WorkerProcess, error_code
from tests.reliability.capped import GiB, capped_worker, needs_prlimit

pytestmark = [pytest.mark.e2e, needs_prlimit]

INVALID_PARAMS, SHUTTING_DOWN = -32602, -32003
TEST_METHODS = "--enable-test-methods"
WIRES = [Wire("stdio", "length", "msgpack"), Wire("pipe", "lsp", "json")]


def wait_until_draining(w: WorkerProcess) -> None:
    """Each probe is answered in turn; the first -32003 says the shutdown has begun."""
    for _ in range(10_000):
        if error_code(w.call("test/echo", {"value": "probe"}, timeout=30)) == SHUTTING_DOWN:
            return
    raise AssertionError("the worker never began draining")


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_shutdown_notification_drains_and_exits_0(wire: Wire) -> None:
    with capped_worker(wire, TEST_METHODS) as w:
        rid, key = w.hang_until_released()
        w.notify("worker/shutdown", {"grace_seconds": 3600})
        wait_until_draining(w)
        assert w.proc.poll() is None  # still draining: the hang is in flight
        w.call("test/release", {"key": key})
        assert "result" in w.response(rid)
        assert w.wait_exit(30) == 0
        w.join_output()
        assert w.protocol_errors == []


def test_a_shutdown_notification_with_nothing_in_flight_exits_0() -> None:
    with capped_worker(Wire("stdio", "ndjson", "json")) as w:
        w.notify("worker/shutdown")
        assert w.wait_exit(30) == 0


@pytest.mark.parametrize(
    "grace",
    [math.inf, math.nan, 1e300, -1.0, 3601.0],
    ids=["inf", "nan", "1e300", "negative", "over-3600"],
)
def test_an_invalid_grace_is_invalid_params_and_the_worker_serves_on(grace: float) -> None:
    # MessagePack carries inf and NaN as they are; JSON cannot (see the next test).
    with capped_worker(Wire("stdio", "length", "msgpack"), TEST_METHODS) as w:
        refused = w.call("worker/shutdown", {"grace_seconds": grace})
        assert error_code(refused) == INVALID_PARAMS and "grace_seconds" in refused["error"]["message"]
        w.notify("worker/shutdown", {"grace_seconds": grace})  # ignored, as a notification
        assert w.call("test/echo", {"value": "serving"})["result"] == "serving"  # not draining
        assert w.call("worker/shutdown", {"grace_seconds": 0})["result"] == {
            "completed": True,
            "cancelled": 0,
        }
        assert w.wait_exit(30) == 0


def test_a_grace_of_1e400_in_json_is_invalid_params() -> None:
    with capped_worker(Wire("stdio", "ndjson", "json"), TEST_METHODS) as w:
        w.send_payload(
            b'{"jsonrpc":"2.0","id":"g","method":"worker/shutdown","params":{"grace_seconds":1e400}}'
        )
        assert error_code(w.response("g")) == INVALID_PARAMS
        assert w.call("test/echo", {"value": "serving"})["result"] == "serving"


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_shutdown_completes_even_when_a_handler_ignores_its_cancellation(wire: Wire) -> None:
    with capped_worker(wire, TEST_METHODS) as w:
        rid, _ = w.hang_until_released()  # never released: it would run for an hour
        done = w.call("worker/shutdown", {"grace_seconds": 0})
        assert done["result"] == {"completed": False, "cancelled": 1}
        assert error_code(w.response(rid)) == -32800
        assert w.wait_exit(30) == 0


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
@pytest.mark.parametrize(
    "batch",
    [
        [
            {"jsonrpc": "2.0", "method": "worker/shutdown"},
            {"jsonrpc": "2.0", "id": 1, "method": "worker/ping"},
        ],
        [
            {"jsonrpc": "2.0", "method": "worker/shutdown"},
            {"jsonrpc": "2.0", "id": 1, "method": "worker/shutdown"},
        ],
        [
            {"jsonrpc": "2.0", "id": 1, "method": "worker/shutdown"},
            {"jsonrpc": "2.0", "id": 2, "method": "worker/ping"},
        ],
    ],
    ids=["notification-then-ping", "notification-then-request", "request-then-ping"],
)
def test_a_batch_holding_a_shutdown_is_answered_before_the_worker_exits(wire: Wire, batch: list[Any]) -> None:
    # Found by an outside attack: the worker stopped while the reader was still answering the rest
    # of the batch, and exited 0 with the batch read and never answered (5 runs in 6).
    with capped_worker(wire) as w:
        mark = w.mark()
        w.send(batch)
        assert w.wait_exit(30) == 0
        w.join_output()
        answers = [m for m in w.all_messages(after=mark) if isinstance(m, list)]
        assert len(answers) == 1, w.all_messages(after=mark)
        requests = sorted(m["id"] for m in batch if "id" in m)
        assert sorted(a["id"] for a in answers[0]) == requests
        assert w.protocol_errors == []


@pytest.mark.parametrize("form", ["request", "notification"])
def test_a_shutdown_gets_through_a_worker_whose_handler_threads_are_all_taken(form: str) -> None:
    # Found by an outside attack: worker/shutdown went through the same admission and thread pool as
    # any method, so a worker full of abandoned handlers (or of notification calls) refused it with
    # -32001, or dropped it, and never stopped. A stop now has a thread of its own.
    wire = WIRES[0]
    # Room for every handler thread's stack (8 MiB of address space each): the pool, not the cap,
    # is what is full here.
    with capped_worker(wire, TEST_METHODS, "--max-inflight", "1", cap_bytes=4 * GiB) as w:
        threads = w.call("worker/info")["result"]["handler_threads"]
        for _ in range(threads):  # cancelled hangs that ignore it: every handler thread stays taken
            rid, _ = w.hang_until_released()
            w.cancel(rid)
            assert error_code(w.response(rid)) == -32800
        assert error_code(w.call("test/echo", {"value": 1})) == -32001  # the pool is full
        if form == "request":
            answer = w.call("worker/shutdown", {"grace_seconds": 0}, timeout=60)
            assert answer["result"]["completed"] is True, answer
        else:
            w.notify("worker/shutdown", {"grace_seconds": 0})
        assert w.wait_exit(60) == 0


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_shutdown_cancelled_before_it_began_still_stops_the_worker(wire: Wire) -> None:
    # Found by an outside attack: a cancel read right behind the shutdown, before its handler ran,
    # answered -32800 and the worker never stopped (a cancelled call's handler is skipped).
    with capped_worker(wire) as w:
        mark = w.mark()
        w.send_raw(
            wire.wrap(
                wire.encode(
                    {"jsonrpc": "2.0", "id": 1, "method": "worker/shutdown", "params": {"grace_seconds": 1}}
                )
            )
            + wire.wrap(wire.encode({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}}))
        )
        answer = w.response(1)
        assert "result" in answer or error_code(answer) == -32800, answer
        assert w.wait_exit(60) == 0
        assert len(w.responses_to(1)) == 1, w.all_messages(after=mark)
