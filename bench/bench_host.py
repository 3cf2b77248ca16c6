"""What the C# host costs over the wire, in one run: issue 10's targets for calls and for start-up.

Each round measures, one after another so that a busy moment on the machine lands on all alike:

- the Python client's no-op round trip (``bench_ping``'s lean client, stdio, MessagePack): p50, and
  calls/s with 64 in flight;
- the C# demo's ``ping`` (``WorkerProcess.InvokeAsync`` and a ``WorkerPool`` of one worker, taking
  turns): p50, calls/s with 64 calls kept in flight, and the host's CPU time per call;
- the C# demo's ``startup``: how long a pool of 1, 2 and 4 takes to be ready;
- the floor of an async call under this runtime (``bench/dotnet/AsyncFloor.cs``, bare C# clients without
  the host library): a caller that blocks reading its own answer, as the Python client does; a reader
  thread that hands each answer to the thread pool (``WorkerProcess``'s design before, and
  StreamJsonRpc's); and the same with the caller's code run on the reader thread itself
  (``WorkerProcess``'s design now, which adds a watch that lets another thread take over reading from a
  reader held up in a caller's code).

The round trips run pinned to one core, as the issue's targets for calls ask: client and worker then
share the core, so a round trip measures the code on both sides, not the hypervisor waking the other
vCPU (see ``bench/suite/cpus.py``). ``--more`` adds the pipe transport, and both transports left where
the scheduler puts them (the README's latency table; no targets there). The pool start-ups run free:
starting workers in parallel is what they measure. Figures are medians over rounds; the ratios the
issue sets as targets are taken from those medians:

- ``WorkerProcess`` p50 at most 1.5x the Python client's;
- the pool's p50 at most 1.3x ``WorkerProcess``'s;
- pipelined calls/s through the pool at least 80% of ``WorkerProcess``'s;
- a pool of 4 ready within 1.5x the time of a pool of 1.

    .venv/bin/python bench/bench_host.py [--rounds 7] [--calls 2000] [--more] [--demo PATH/Demo.exe]

Prints a table and writes bench/results/host.json. Not a test: numbers depend on the machine, and the
load average at start and end is written beside them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bench_ping  # noqa: E402
from bench.suite import cpus, dotnet  # noqa: E402
from bench.suite.stats import median, percentile  # noqa: E402

WARM_UP_CALLS = 300
IN_FLIGHT = 64


# (name, wanted, measured -> ratio, the ratio's limit, True when a higher ratio is better)
Target = tuple[str, str, Callable[[dict[str, float]], float], float, bool]
TARGETS: list[Target] = [
    (
        "WorkerProcess ping vs the Python client",
        "p50 <= 1.5x",
        lambda m: m["process_p50_us"] / m["python_p50_us"],
        1.5,
        False,
    ),
    (
        "pool of 1 ping vs WorkerProcess",
        "p50 <= 1.3x",
        lambda m: m["pool_p50_us"] / m["process_p50_us"],
        1.3,
        False,
    ),
    (
        "pipelined calls/s, pool vs WorkerProcess",
        ">= 0.80x",
        lambda m: m["pool_per_second"] / m["process_per_second"],
        0.8,
        True,
    ),
    (
        "pool of 4 ready vs a pool of 1",
        "<= 1.5x",
        lambda m: m["pool4_ready_ms"] / m["pool1_ready_ms"],
        1.5,
        False,
    ),
]

# Not targets: the same ratio for bare workers started at once without any host, measured in the same
# rounds. Where it is above 1.5 the machine itself cannot start 4 workers in 1.5x the time of one. A pool of
# 2 against a pool of 1 shows whether the host starts workers in parallel where there are cores for them.
FLOORS = [
    ("4 bare workers ready vs 1 (the floor)", lambda m: m["bare4_ready_ms"] / m["bare1_ready_ms"]),
    ("pool of 4 ready vs 4 bare workers", lambda m: m["pool4_ready_ms"] / m["bare4_ready_ms"]),
    ("pool of 2 ready vs a pool of 1", lambda m: m["pool2_ready_ms"] / m["pool1_ready_ms"]),
    # Likewise for the round trip: bare C# clients against the Python client, and WorkerProcess against
    # the bare client of its own design (caller's code inline on the reader).
    (
        "bare C# async client, caller's code on the reader thread, vs the Python client",
        lambda m: m["floor_inline_p50_us"] / m["python_p50_us"],
    ),
    ("WorkerProcess vs that bare inline client", lambda m: m["process_p50_us"] / m["floor_inline_p50_us"]),
    (
        "bare C# async client, answers via the thread pool, vs the Python client",
        lambda m: m["floor_handoff_p50_us"] / m["python_p50_us"],
    ),
    (
        "bare C# client, blocking read on the caller's thread, vs the Python client",
        lambda m: m["floor_sync_p50_us"] / m["python_p50_us"],
    ),
]


def log(text: str) -> None:
    sys.stderr.write(f"[bench_host {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def python_client_round(calls: bench_ping.Calls, n: int, transport: str) -> dict[str, float]:
    """The lean Python client against a fresh worker: p50/p99 in µs and calls/s with IN_FLIGHT in flight;
    and the floor of the README's latency table (a bare ping-pong over the transport's channel): p50."""
    channel, _ = bench_ping.start_worker(transport, "msgpack")
    try:
        bench_ping.sequential(channel, calls, WARM_UP_CALLS)
        times = bench_ping.sequential(channel, calls, n)
        per_second = bench_ping.pipelined(channel, calls, n, IN_FLIGHT)
    finally:
        channel.close()
    floor = bench_ping.start_floor(transport, calls.reply_frame)
    try:
        bench_ping.sequential(floor, calls, WARM_UP_CALLS)
        floor_times = bench_ping.sequential(floor, calls, n)
    finally:
        floor.close()
    return {
        "python_p50_us": percentile(times, 50),
        "python_p99_us": percentile(times, 99),
        "python_per_second": per_second,
        "floor_p50_us": percentile(floor_times, 50),
    }


def run_demo(demo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The demo with its own folder's HfWorker.dll (a --demo built elsewhere brings its library along)."""
    return subprocess.run(
        ["mono", str(demo), *args, "--venv", str(dotnet.VENV)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "MONO_PATH": str(demo.parent)},
    )


def host_ping_round(demo: Path, n: int, transport: str) -> dict[str, float]:
    done = run_demo(
        demo,
        "ping",
        "--count",
        str(n),
        "--rounds",
        "1",
        "--in-flight",
        str(IN_FLIGHT),
        "--transport",
        transport,
    )
    found = [line for line in dotnet.json_lines(done.stdout) if "process" in line]
    if not found:
        raise RuntimeError(
            f"Demo ping failed ({done.returncode}): {(done.stderr or done.stdout).strip()[:600]}"
        )
    line = found[-1]
    figures = {}
    for path in ("process", "pool"):
        figures[f"{path}_p50_us"] = line[path]["p50_ms"] * 1000
        figures[f"{path}_p99_us"] = line[path]["p99_ms"] * 1000
        figures[f"{path}_per_second"] = line[path]["per_second"]
        figures[f"{path}_host_cpu_us"] = line[path]["host_cpu_us_per_call"]
    return figures


def async_floor_round(floor: Path, n: int) -> dict[str, float]:
    """The bare C# clients of ``bench/dotnet/AsyncFloor.cs`` over stdio: p50 of each design in µs."""
    done = subprocess.run(
        ["mono", str(floor), sys.executable, "--count", str(n), "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    found = [line for line in dotnet.json_lines(done.stdout) if "handoff_p50_us" in line]
    if done.returncode != 0 or not found:
        raise RuntimeError(
            f"AsyncFloor failed ({done.returncode}): {(done.stderr or done.stdout).strip()[:600]}"
        )
    designs = ("sync", "handoff", "inline")
    return {f"floor_{design}_p50_us": found[-1][f"{design}_p50_us"] for design in designs}


def latency_round(
    demo: Path, floor: Path | None, calls: bench_ping.Calls, n: int, transport: str, mode: str
) -> dict[str, float]:
    """Python client and C# host over one transport and placement (and, given ``floor``, the bare C#
    clients). Keys of stdio on one core (the targets' figures) are bare; others are prefixed with the
    transport and placement."""
    # Children (the worker, mono and its workers) inherit the placement.
    with cpus.placement(mode):
        figures = python_client_round(calls, n, transport)
        figures.update(host_ping_round(demo, n, transport))
        if floor is not None:
            figures.update(async_floor_round(floor, n))
    prefix = "" if (transport, mode) == ("stdio", "one_core") else f"{transport}_{mode}_"
    return {prefix + key: value for key, value in figures.items()}


def startup_round(demo: Path) -> dict[str, float]:
    done = run_demo(demo, "startup", "--workers", "4")
    sizes = {
        line["workers"]: line["ready_seconds"] for line in dotnet.json_lines(done.stdout) if "workers" in line
    }
    if not {1, 4} <= sizes.keys():
        raise RuntimeError(
            f"Demo startup failed ({done.returncode}): {(done.stderr or done.stdout).strip()[:600]}"
        )
    return {f"pool{k}_ready_ms": v * 1000 for k, v in sizes.items()}


def bare_start_round() -> dict[str, float]:
    """The floor of the pool start-ups: 1 and 4 workers started at once straight from Python, no host,
    each until its first frame (``worker/ready``) is on its stdout. On a machine with fewer cores than
    workers, starting them is CPU-bound, and this ratio is what no host can beat."""
    figures = {}
    for count in (1, 4):
        started = time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
            )
            for _ in range(count)
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None
                if len(worker.stdout.read(4)) != 4:
                    raise RuntimeError("a bare worker ended before worker/ready")
            figures[f"bare{count}_ready_ms"] = (time.perf_counter() - started) * 1000
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()
                for stream in (worker.stdin, worker.stdout):
                    if stream is not None:
                        stream.close()
    return figures


def _floors_said(figures: dict[str, float]) -> str:
    if "floor_handoff_p50_us" not in figures:
        return ""
    return (
        f" (bare C#: blocking {figures['floor_sync_p50_us']:.1f}, via the thread pool "
        f"{figures['floor_handoff_p50_us']:.1f}, inline {figures['floor_inline_p50_us']:.1f} µs)"
    )


def table(medians: dict[str, float], checks: list[dict[str, Any]]) -> str:
    rows = [
        "| measurement | median |",
        "| --- | --- |",
        f"| Python client, stdio, p50 | {medians['python_p50_us']:.1f} µs |",
        f"| C# `WorkerProcess`, stdio, p50 | {medians['process_p50_us']:.1f} µs |",
        f"| C# `WorkerPool` of 1, stdio, p50 | {medians['pool_p50_us']:.1f} µs |",
        *[
            f"| floor: bare C# {words}, p50 | {medians[key]:.1f} µs |"
            for key, words in (
                ("floor_sync_p50_us", "client, blocking read on the caller's thread"),
                ("floor_handoff_p50_us", "async client, answers via the thread pool"),
                ("floor_inline_p50_us", "async client, caller's code on the reader thread"),
            )
            if key in medians
        ],
        f"| Python client, {IN_FLIGHT} in flight | {medians['python_per_second']:,.0f} calls/s |",
        f"| C# `WorkerProcess`, {IN_FLIGHT} in flight | {medians['process_per_second']:,.0f} calls/s |",
        f"| C# `WorkerPool` of 1, {IN_FLIGHT} in flight | {medians['pool_per_second']:,.0f} calls/s |",
    ]
    for size in (1, 2, 4):
        key = f"pool{size}_ready_ms"
        if key in medians:
            rows.append(f"| pool of {size} ready | {medians[key]:.0f} ms |")
    for size in (1, 4):
        key = f"bare{size}_ready_ms"
        if key in medians:
            rows.append(f"| floor: {size} bare `python -m worker` ready, no host | {medians[key]:.0f} ms |")
    placements = [
        (transport, mode)
        for transport in ("stdio", "pipe")
        for mode in ("one_core", "free")
        if (transport, mode) == ("stdio", "one_core") or f"{transport}_{mode}_process_p50_us" in medians
    ]
    if len(placements) > 1:
        rows += [
            "",
            "| p50 / p99 µs | " + " | ".join(f"{t}, {m.replace('_', ' ')}" for t, m in placements) + " |",
        ]
        rows.append("| --- |" + " --- |" * len(placements))
        for who in ("floor", "python", "process", "pool"):
            cells = []
            for transport, mode in placements:
                prefix = "" if (transport, mode) == ("stdio", "one_core") else f"{transport}_{mode}_"
                p50, p99 = medians.get(f"{prefix}{who}_p50_us"), medians.get(f"{prefix}{who}_p99_us")
                cells.append("" if p50 is None else f"{p50:.1f}" + ("" if p99 is None else f" / {p99:.1f}"))
            rows.append(f"| {who} | " + " | ".join(cells) + " |")
    rows += ["", "| target | wanted | measured | |", "| --- | --- | --- | --- |"]
    rows += [
        f"| {c['target']} | {c['wanted']} | {c['ratio']:.2f}x | {'met' if c['met'] else 'NOT met'} |"
        for c in checks
    ]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="rounds; every figure is a median over them")
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per round and path")
    parser.add_argument(
        "--more",
        action="store_true",
        help="also the pipe transport, and both transports free (the README's latency table; no targets)",
    )
    parser.add_argument(
        "--demo",
        type=Path,
        help="a Demo.exe built already (HfWorker.dll beside it) instead of building the checkout's",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "host.json")
    args = parser.parse_args()
    demo, reason = (args.demo, "") if args.demo else dotnet.build()
    if demo is None:
        log(f"the C# host cannot be measured: {reason}")
        return 1
    floor, reason = dotnet.build_async_floor()
    if floor is None:
        # Everything else is still worth measuring; the floors' rows and ratios are left out.
        log(f"the bare C# clients cannot be measured: {reason}")
    load_at_start = list(os.getloadavg())
    started = time.perf_counter()
    calls = bench_ping.Calls("msgpack", max(args.calls, WARM_UP_CALLS))
    rounds: list[dict[str, float]] = []
    for i in range(args.rounds):
        figures = latency_round(demo, floor, calls, args.calls, "stdio", "one_core")
        if args.more:
            for transport, mode in (("pipe", "one_core"), ("stdio", "free"), ("pipe", "free")):
                figures.update(latency_round(demo, None, calls, args.calls, transport, mode))
        figures.update(startup_round(demo))
        figures.update(bare_start_round())
        rounds.append(figures)
        log(
            f"round {i + 1}/{args.rounds}: python {figures['python_p50_us']:.1f} µs, process "
            f"{figures['process_p50_us']:.1f} µs, pool {figures['pool_p50_us']:.1f} µs"
            f"{_floors_said(figures)}; "
            f"{figures['process_per_second']:.0f} vs {figures['pool_per_second']:.0f} calls/s; "
            f"ready 1: {figures['pool1_ready_ms']:.0f} ms, 4: {figures['pool4_ready_ms']:.0f} ms "
            f"(bare: {figures['bare1_ready_ms']:.0f}, {figures['bare4_ready_ms']:.0f} ms)"
        )
    medians = {key: median([r[key] for r in rounds if key in r]) for key in rounds[0]}
    checks = []
    for name, wanted, measure, limit, higher_is_better in TARGETS:
        value = measure(medians)
        checks.append(
            {
                "target": name,
                "wanted": wanted,
                "ratio": round(value, 3),
                "met": value >= limit if higher_is_better else value <= limit,
            }
        )
    floors = {}
    for name, measure in FLOORS:
        try:
            floors[name] = round(measure(medians), 3)
        except KeyError:  # the bare C# clients could not be built
            continue
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "placement": "round trips on one core (--more: also free), start-ups free",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "seconds": round(time.perf_counter() - started, 1),
        "rounds": rounds,
        "medians": {k: round(v, 1) for k, v in medians.items()},
        "targets": checks,
        "floors": floors,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(table(medians, checks) + "\n")
    sys.stdout.write(
        "".join(f"| {name} | | {ratio:.2f}x | floor, not a target |\n" for name, ratio in floors.items())
    )
    sys.stdout.write(
        f"{args.rounds} rounds, {results['placement']}, {results['seconds']} s, load average {load_at_start}"
        f" -> {results['load_average_at_end']}; written to {args.out}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
