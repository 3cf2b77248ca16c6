"""Cold start: process start to the worker/ready frame, median over runs, beside the floor of
starting a bare `python -c pass` in the same run.

    .venv/bin/python bench/bench_startup.py [--runs 15]
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


def time_ready(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    assert proc.stdout is not None and proc.stdin is not None
    header = proc.stdout.read(4)
    proc.stdout.read(int.from_bytes(header, "big"))
    elapsed = time.perf_counter() - start
    proc.stdin.close()
    proc.wait(10)
    proc.stdout.close()
    return elapsed


def time_bare(python: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    python = sys.executable
    ready, bare = [], []
    for _ in range(args.runs):
        bare.append(time_bare(python))
        ready.append(time_ready([python, "-m", "worker"]))
    result = {
        "runs": args.runs,
        "python_bare_ms_median": round(statistics.median(bare) * 1000, 1),
        "worker_ready_ms_median": round(statistics.median(ready) * 1000, 1),
        "worker_ready_ms_p90": round(sorted(ready)[int(0.9 * (len(ready) - 1))] * 1000, 1),
    }
    result["ratio_to_bare_python"] = round(
        result["worker_ready_ms_median"] / result["python_bare_ms_median"], 2
    )
    out = ROOT / "bench" / "results"
    os.makedirs(out, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
