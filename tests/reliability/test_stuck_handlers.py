"""Stuck handlers against a real worker under an address-space cap: a handler that ignores its
cancellation (abandoned) is counted, and once such handlers would take every handler thread, new
requests are refused -32001 at once; ping, worker/info and end of input still work.

Before the fix, each cancelled-but-stuck handler kept a thread of the pool (2 x --max-inflight + 16)
unseen; once all were taken, new requests queued for ever unanswered, and at end of input the worker
waited for them and never exited.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable

import pytest

from tests.e2e.wire import Wire, WorkerProcess, error_code
from tests.reliability.capped import GiB, capped_worker, needs_prlimit

# Room for every handler thread (an 8 MiB stack and possibly a malloc arena of address space each):
# what fills up here is the pool, not the cap, which sat at its edge at 1 GiB.
POOL_CAP_BYTES = 4 * GiB

pytestmark = [pytest.mark.e2e, needs_prlimit]

OVERLOADED, CANCELLED = -32001, -32800
WIRES = [Wire("stdio", "length", "msgpack"), Wire("pipe", "ndjson", "json")]
ARGS = ("--enable-test-methods", "--max-inflight", "1")
THREADS = 2 * 1 + 16  # handler threads for --max-inflight 1


def began(token: str) -> Callable[[object], bool]:
    """Whether a message is the test/hang's report that it has begun, for this progress token."""
    return lambda m: isinstance(m, dict) and m.get("method") == "$/progress" and m["params"]["token"] == token


def abandon_hangs(w: WorkerProcess, count: int, key: str) -> list[int]:
    """``count`` test/hangs (waiting on ``key``), each cancelled once it runs: abandoned handlers."""
    ids = []
    for i in range(count):
        token = f"{key}-{i}"
        mark = w.mark()
        rid = w.request("test/hang", {"release": key, "progressToken": token})
        w.wait_for(began(token), what=f"hang {i} beginning", after=mark)
        w.cancel(rid)
        assert error_code(w.response(rid)) == CANCELLED
        ids.append(rid)
    return ids


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_abandoned_handlers_filling_the_pool_make_requests_refused_not_queued(wire: Wire) -> None:
    key = f"stuck-{uuid.uuid4().hex[:8]}"
    with capped_worker(wire, *ARGS, cap_bytes=POOL_CAP_BYTES) as w:
        abandon_hangs(w, THREADS, key)
        info = w.call("worker/info")["result"]
        assert info["handler_threads"] == THREADS
        assert info["abandoned_handlers"] == THREADS and info["running_handlers"] == THREADS
        assert info["inflight"] == 0 and info["threads"] > THREADS

        refused = w.call("test/echo", {"value": "queued for ever?"}, timeout=30)
        assert error_code(refused) == OVERLOADED
        assert "abandoned_handlers" in refused["error"]["message"]
        assert w.call("worker/ping", {"still": "answering"})["result"] == {"still": "answering"}

        # Released, they stop; the worker says so for each, and takes requests again.
        assert w.call("test/release", {"key": key})["result"] == {"waiting": THREADS}
        deadline = time.monotonic() + 60
        while w.stderr_count("stopped") < THREADS:
            assert time.monotonic() < deadline, "the released handlers never reported stopping"
            time.sleep(0.05)
        assert w.call("worker/info")["result"]["abandoned_handlers"] == 0
        assert w.call("test/echo", {"value": "back"})["result"] == "back"


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_end_of_input_exits_0_while_abandoned_handlers_are_stuck(wire: Wire) -> None:
    with capped_worker(wire, *ARGS, cap_bytes=POOL_CAP_BYTES) as w:
        abandon_hangs(w, THREADS, f"never-{uuid.uuid4().hex[:8]}")  # never released: an hour each
        echo = w.request("test/echo", {"value": "refused"})
        assert error_code(w.response(echo)) == OVERLOADED
        w.close_input()
        assert w.wait_exit(30) == 0
        w.join_output()
        assert w.protocol_errors == []


def test_a_shutdown_signal_exits_while_abandoned_handlers_are_stuck() -> None:
    with capped_worker(
        Wire("stdio", "length", "msgpack"), *ARGS, "--shutdown-grace", "3600", cap_bytes=POOL_CAP_BYTES
    ) as w:
        abandon_hangs(w, 3, f"never-{uuid.uuid4().hex[:8]}")
        # Nothing is in flight (all three were answered), so the hour's grace is not waited out.
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait_exit(30) == 0
