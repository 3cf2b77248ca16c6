"""test/hold_gil: a call that keeps the GIL while it computes, as a C extension that never releases it does.

The host tells such a worker (busy: no ping answered, but CPU used) from a hung one; this shows the worker's
half of that: while the hold runs, even the reader thread that answers worker/ping cannot run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.wire import ALL_WIRES, WorkerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerProcess]:
    # Holding the GIL does not depend on the wire: one is enough.
    with WorkerProcess(ALL_WIRES[0], "--enable-test-methods") as w:
        yield w
        assert w.protocol_errors == []


def test_ping_is_not_answered_while_the_gil_is_held_and_is_answered_after(worker: WorkerProcess) -> None:
    w = worker
    # The ping goes out once the test has read the hold's beginning; a busy machine may delay that
    # reading, so the bound below is a third of the hold.
    hold = 1.5
    token = "hold-gil"
    mark = w.mark()
    rid = w.request("test/hold_gil", {"seconds": hold, "progressToken": token})
    began = w.wait_for(
        lambda m: isinstance(m, dict) and m.get("method") == "$/progress" and m["params"]["token"] == token,
        what="the hold beginning",
        after=mark,
    )
    assert began["params"]["value"] == {"holding": True}
    ping = w.call("worker/ping", {"during": "hold"}, timeout=10)
    assert ping["result"] == {"during": "hold"}
    assert w.arrival(ping) - w.arrival(began) > hold / 3
    held = w.response(rid)["result"]["held_seconds"]
    assert held >= hold


def test_the_switch_interval_is_restored_after_a_hold(worker: WorkerProcess) -> None:
    w = worker
    w.call("test/hold_gil", {"seconds": 1.0})
    # Left at the hold's value (2 s), a ping would wait that long for a pure Python busy loop to hand
    # over the GIL, and be answered only after the loop's end; restored (5 ms), it comes at once.
    token = "busy-after-hold"
    mark = w.mark()
    rid = w.request("test/hang", {"seconds": 1.5, "progressToken": token})
    w.wait_for(
        lambda m: isinstance(m, dict) and m.get("method") == "$/progress" and m["params"]["token"] == token,
        what="the busy loop beginning",
        after=mark,
    )
    ping = w.call("worker/ping", {"after": "hold"}, timeout=10)
    assert ping["result"] == {"after": "hold"}
    assert w.responses_to(rid) == [], "the ping waited for the busy loop to end"
    assert "result" in w.response(rid)


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), 86401])
def test_a_hold_of_no_finite_length_is_refused(worker: WorkerProcess, seconds: float) -> None:
    answer = worker.call("test/hold_gil", {"seconds": seconds})
    assert answer["error"]["code"] == -32602
