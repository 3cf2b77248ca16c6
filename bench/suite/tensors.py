"""Bulk: tensor/put then tensor/get of 1 MB and 64 MB, beside the raw pipe bandwidth of the same run.
The measurement itself is ``bench/bench_tensors.py``'s (raw and worker runs alternate)."""

from __future__ import annotations

from typing import Any

from bench.bench_tensors import MB, LeanClient
from bench.bench_tensors import measure as measure_size


def measure(*, runs: int) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": runs}
    worker = LeanClient()
    try:
        for label, size in (("1MB", MB), ("64MB", 64 * MB)):
            result[label] = measure_size(worker, size, runs)
    finally:
        worker.close()
    return result
