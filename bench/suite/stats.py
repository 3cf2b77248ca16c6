"""Summaries of timings: medians and percentiles, and ratios against a same-run floor."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank: a value that was actually observed."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in microseconds, with the number of calls they come from."""
    return {
        "p50_us": round(percentile(seconds, 50) * 1e6, 1),
        "p99_us": round(percentile(seconds, 99) * 1e6, 1),
        "calls": len(seconds),
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or not floor:
        return None
    return round(value / floor, 2)
