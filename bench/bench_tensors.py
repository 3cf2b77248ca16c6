"""Tensor round trip through the real worker (stdio, length framing, MessagePack): tensor/put then
tensor/get of 1 MB and 64 MB, beside a raw pipe copy of the same bytes measured in the same run.

The raw baseline is the floor for the same traffic pattern: the bytes go to a child process over its
stdin, the child answers one byte once it has them all, then sends them back over its stdout. Its
bandwidth is (2 x size) / time; the worker's is the same bytes over put + get.
Target: the 64 MB worker round trip reaches at least 50% of the raw pipe bandwidth.

    .venv/bin/python bench/bench_tensors.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

from tests.tensors.worker_process import WorkerProcess  # noqa: E402

MB = 1 << 20


class GetResult(msgspec.Struct):
    data: memoryview  # decoded without copying the bin out of the frame, as a lean client would
    dtype: str
    shape: list[int]

# The child of the raw baseline: read exactly N bytes, ack, write them back.
ECHO = """
import sys
n = int(sys.argv[1]); inp = sys.stdin.buffer; out = sys.stdout.buffer
while True:
    data = inp.read(n)
    if len(data) < n:
        break
    out.write(b"k"); out.flush()
    out.write(data); out.flush()
"""


def raw_round_trips(size: int, runs: int) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO, str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    payload = os.urandom(size)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        proc.stdin.write(payload)
        proc.stdin.flush()
        assert proc.stdout.read(1) == b"k"
        back = proc.stdout.read(size)
        times.append(time.perf_counter() - start)
        assert back == payload
    proc.stdin.close()
    proc.wait(10)
    proc.stdout.close()
    return times[1:]  # the first run warms both processes up


def worker_round_trips(worker: WorkerProcess, size: int, runs: int) -> tuple[list[float], list[float]]:
    payload = os.urandom(size)
    puts, gets = [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        handle = worker.call("tensor/put", {"data": payload, "dtype": "uint8", "shape": [size]})["handle"]
        middle = time.perf_counter()
        got = worker.call("tensor/get", {"handle": handle}, result_type=GetResult)
        end = time.perf_counter()
        assert got.data == payload
        worker.call("tensor/free", {"handles": [handle]})
        puts.append(middle - start)
        gets.append(end - middle)
    return puts[1:], gets[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    result: dict[str, object] = {"runs": args.runs}
    with WorkerProcess("msgpack") as worker:
        for label, size in (("1MB", MB), ("64MB", 64 * MB)):
            raw = statistics.median(raw_round_trips(size, args.runs))
            puts, gets = worker_round_trips(worker, size, args.runs)
            trips = [p + g for p, g in zip(puts, gets)]
            trip = statistics.median(trips)
            result[label] = {
                "raw_round_trip_ms_median": round(raw * 1000, 2),
                "raw_MBps": round(2 * size / MB / raw, 1),
                "put_ms_median": round(statistics.median(puts) * 1000, 2),
                "get_ms_median": round(statistics.median(gets) * 1000, 2),
                "worker_round_trip_ms_median": round(trip * 1000, 2),
                "worker_MBps": round(2 * size / MB / trip, 1),
                "ratio_to_raw": round(raw / trip, 3),
            }
    out = ROOT / "bench" / "results"
    os.makedirs(out, exist_ok=True)
    (out / "tensors.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
