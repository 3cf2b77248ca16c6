"""Soak: 100,000 calls through one real worker, its resident memory sampled throughout.

Each cycle of 100 calls mixes what a long-lived host does: 90 pings (answered on the reader
thread), 2 echoes (handler threads), an unknown method and bad params (error paths), a sleep that
is cancelled, a tensor put/get/free (1 KiB, 64 KiB or 1 MiB), tensor/list and worker/info.
Every answer is checked.

Bound: after a warm-up of 5,000 calls, RSS may grow by at most 8 MiB over the remaining 95,000
calls (a leak of 90 bytes per call would break it) and no tensor may be left behind.

    .venv/bin/python bench/soak.py [--calls 100000]

Prints start/end/max RSS and exits 1 if the bound is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from worker.client import WorkerCallError, WorkerClient  # noqa: E402

MiB = 1 << 20
CALLS_PER_CYCLE = 100
WARM_UP_CALLS = 5_000
RSS_GROWTH_BOUND = 8 * MiB
# Tensor sizes cycle through these, so that the allocator sees small and large blocks alike.
TENSOR_SIZES = (1024, 64 * 1024, 1024 * 1024)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def expect_error(worker: WorkerClient, call_id: int, code: int) -> None:
    try:
        worker.result(call_id, timeout=30)
    except WorkerCallError as exc:
        if exc.code != code:
            raise AssertionError(f"expected error {code}, got {exc.code}: {exc.message}") from None
        return
    raise AssertionError(f"expected error {code}, got a result")


def cycle(worker: WorkerClient, n: int) -> None:
    sleeper = worker.send("test/sleep", {"seconds": 60})
    pings = [worker.send("worker/ping", {"cycle": n, "i": i}) for i in range(90)]
    echoes = [worker.send("test/echo", {"value": [n, i]}) for i in range(2)]
    unknown = worker.send("no/such/method", {})
    bad = worker.send("test/sleep", {"seconds": "soon"})
    for i, call_id in enumerate(pings):
        if worker.result(call_id, timeout=30) != {"cycle": n, "i": i}:
            raise AssertionError("ping answered with other params")
    for i, call_id in enumerate(echoes):
        if worker.result(call_id, timeout=30) != [n, i]:
            raise AssertionError("echo answered with another value")
    expect_error(worker, unknown, -32601)
    expect_error(worker, bad, -32602)
    worker.cancel(sleeper)
    expect_error(worker, sleeper, -32800)

    data = os.urandom(TENSOR_SIZES[n % len(TENSOR_SIZES)])
    put = worker.call("tensor/put", {"data": data, "dtype": "uint8", "shape": [len(data)]}, timeout=30)
    if bytes(worker.call("tensor/get", {"handle": put["handle"]}, timeout=30)["data"]) != data:
        raise AssertionError("tensor/get returned other bytes")
    worker.call("tensor/free", {"handles": [put["handle"]]}, timeout=30)
    if worker.call("tensor/list", timeout=30)["count"] != 0:
        raise AssertionError("a freed tensor is still listed")
    worker.call("worker/info", timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    cycles = args.calls // CALLS_PER_CYCLE
    warm_up_cycles = WARM_UP_CALLS // CALLS_PER_CYCLE
    started = time.perf_counter()
    with WorkerClient(["--enable-test-methods"], stderr=subprocess.DEVNULL) as worker:
        pid = worker.process.pid
        at_start = rss_bytes(pid)
        for n in range(warm_up_cycles):
            cycle(worker, n)
        baseline = peak = rss_bytes(pid)
        samples = [(warm_up_cycles * CALLS_PER_CYCLE, baseline)]
        for n in range(warm_up_cycles, cycles):
            cycle(worker, n)
            if n % 10 == 9:
                rss = rss_bytes(pid)
                peak = max(peak, rss)
                samples.append(((n + 1) * CALLS_PER_CYCLE, rss))
        end = rss_bytes(pid)
        peak = max(peak, end)
        listed = worker.call("tensor/list", timeout=30)
        info = worker.call("worker/info", timeout=30)
    seconds = time.perf_counter() - started
    growth = end - baseline
    ok = growth < RSS_GROWTH_BOUND and peak - baseline < RSS_GROWTH_BOUND and listed["count"] == 0
    report = {
        "calls": cycles * CALLS_PER_CYCLE,
        "seconds": round(seconds, 1),
        "rss_at_start_mib": round(at_start / MiB, 1),
        "rss_after_warm_up_mib": round(baseline / MiB, 1),
        "rss_end_mib": round(end / MiB, 1),
        "rss_max_mib": round(peak / MiB, 1),
        "growth_after_warm_up_mib": round(growth / MiB, 2),
        "bound_mib": RSS_GROWTH_BOUND / MiB,
        "tensors_left": listed["count"],
        "worker_requests_total": info["requests_total"],
        "within_bound": ok,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps({**report, "rss_samples": samples}, indent=2) + "\n")
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
