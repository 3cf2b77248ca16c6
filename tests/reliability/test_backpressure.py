"""Backpressure: a flood of requests past --max-inflight is answered "overloaded" at once, each
request exactly once, and the worker's memory does not grow with the flood.

The worker is first filled to its limit with long cancellable sleeps, so which requests are admitted
does not depend on timing: every request of the flood must be refused with -32001.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.wire import Wire, WorkerProcess, error_code, is_response
from tests.reliability.memory import MiB, needs_proc, rss_bytes

MAX_INFLIGHT = 4
OVERLOADED = -32001
CANCELLED = -32800

pytestmark = [pytest.mark.e2e, needs_proc]


def fill_to_the_limit(worker: WorkerProcess) -> list[int]:
    """MAX_INFLIGHT sleeps that hold every slot until cancelled; returns when all are running."""
    sleepers = [worker.request("test/sleep", {"seconds": 600}) for _ in range(MAX_INFLIGHT)]
    # worker/info is answered inline, after the reader has admitted the sleeps before it.
    info = worker.call("worker/info")["result"]
    assert info["inflight"] == MAX_INFLIGHT
    return sleepers


def flood(worker: WorkerProcess, count: int, params: dict[str, object]) -> list[int]:
    ids = [worker.request("test/echo", params) for _ in range(count)]
    # Frames are read and answered in order, so when this ping is answered every refusal before it
    # has been written.
    worker.call("worker/ping", timeout=60)
    return ids


def answers_by_id(worker: WorkerProcess) -> Counter[object]:
    return Counter(m["id"] for m in worker.all_messages() if is_response(m))


def codes_of(worker: WorkerProcess, ids: list[int]) -> Counter[int | None]:
    wanted = set(ids)
    return Counter(error_code(m) for m in worker.all_messages() if is_response(m) and m["id"] in wanted)


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_a_flood_past_max_inflight_is_refused_once_per_request_and_memory_stays_flat(encoding: str) -> None:
    wire = Wire("stdio", "length", encoding)
    with WorkerProcess(wire, "--enable-test-methods", "--max-inflight", str(MAX_INFLIGHT)) as worker:
        sleepers = fill_to_the_limit(worker)
        # A first flood warms up the allocator and the codec; memory is measured from after it.
        warm_up = flood(worker, 2_000, {"value": "x"})
        before = rss_bytes(worker.proc.pid)

        small = flood(worker, 20_000, {"value": "x"})
        # Large refused requests too: 400 x 256 KiB = 100 MiB sent, none of it may be kept.
        large = flood(worker, 400, {"value": "y" * (256 * 1024)})
        after = rss_bytes(worker.proc.pid)

        for sleeper in sleepers:
            worker.cancel(sleeper)
        for sleeper in sleepers:
            assert error_code(worker.response(sleeper)) == CANCELLED
        # With the slots free again, requests are admitted and answered normally.
        recovered = worker.call("test/echo", {"value": "back"}, timeout=30)

        # Every request this test sent (the flood, the sleeps, the pings and infos) exactly once,
        # and no response to anything else.
        answered = answers_by_id(worker)
        sent = range(1, worker.new_id())
        assert sorted(answered) == list(sent)
        assert set(answered.values()) == {1}, "a request was answered more than once"
        assert codes_of(worker, warm_up + small + large) == {
            OVERLOADED: len(warm_up) + len(small) + len(large)
        }
        assert recovered["result"] == "back"
        assert worker.protocol_errors == []
        growth = after - before
        assert growth < 16 * MiB, f"RSS grew {growth / MiB:.1f} MiB over a flood that must be refused"
