"""A short soak through the real worker: 20,000 calls (pings answered on the reader thread, echoes on
handler threads, tensor put/get/free cycles), with every answer checked, the worker's resident
memory bounded, and no tensor left behind. ``bench/soak.py`` is the long version (100,000 calls).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.reliability.memory import MiB, needs_proc, rss_bytes
from worker.client import WorkerClient

CYCLES = 200
PINGS_PER_CYCLE = 96  # + 1 echo + put + get + free = 100 calls per cycle
WARM_UP_CYCLES = 20
TENSOR_BYTES = 64 * 1024
# Growth allowed after the warm-up: far below what a leak of one small object per call would
# cost over 18,000 calls (450 bytes each), far above allocator noise (measured under 1 MiB).
RSS_GROWTH_BOUND = 8 * MiB

pytestmark = [pytest.mark.e2e, needs_proc]


def one_cycle(worker: WorkerClient, cycle: int) -> None:
    ids = [worker.send("worker/ping", {"cycle": cycle, "n": n}) for n in range(PINGS_PER_CYCLE)]
    echo = worker.send("test/echo", {"value": [cycle, "echo"]})
    for n, call_id in enumerate(ids):
        assert worker.result(call_id, timeout=30) == {"cycle": cycle, "n": n}
    assert worker.result(echo, timeout=30) == [cycle, "echo"]

    data = os.urandom(TENSOR_BYTES)
    put = worker.call(
        "tensor/put", {"data": data, "dtype": "float32", "shape": [TENSOR_BYTES // 4]}, timeout=30
    )
    got = worker.call("tensor/get", {"handle": put["handle"]}, timeout=30)
    assert bytes(got["data"]) == data
    freed = worker.call("tensor/free", {"handles": [put["handle"]]}, timeout=30)
    assert freed["total_bytes"] == 0


def test_twenty_thousand_calls_keep_memory_bounded_and_leave_no_tensor() -> None:
    with WorkerClient(["--enable-test-methods"], stderr=subprocess.DEVNULL) as worker:
        pid = worker.process.pid
        for cycle in range(WARM_UP_CYCLES):
            one_cycle(worker, cycle)
        baseline = rss_bytes(pid)
        peak = baseline
        for cycle in range(WARM_UP_CYCLES, CYCLES):
            one_cycle(worker, cycle)
            peak = max(peak, rss_bytes(pid))
        end = rss_bytes(pid)

        listed = worker.call("tensor/list", timeout=30)
        info = worker.call("worker/info", timeout=30)

    assert listed["count"] == 0 and listed["total_bytes"] == 0
    assert info["requests_total"] >= CYCLES * 4  # echo, put, get, free went through the dispatcher
    assert end - baseline < RSS_GROWTH_BOUND, (
        f"RSS grew {(end - baseline) / MiB:.1f} MiB after warm-up (start {baseline / MiB:.1f} MiB, "
        f"peak {peak / MiB:.1f} MiB, end {end / MiB:.1f} MiB)"
    )
    assert peak - baseline < RSS_GROWTH_BOUND
