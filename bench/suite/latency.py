"""No-op round trips (p50/p99) and pipelined calls per second.

The floor and the worker's own rows are ``bench/bench_ping.py``'s: a minimal two-process ping-pong
(a child that answers each frame with a frame of the worker's response size, over an OS pipe for
stdio and a Unix socket for the pipe transport) driven by exactly the same client code as the
worker. Beside them: the gRPC and HTTP services and the C# host (see ``dotnet.py``).

Each round starts every contender afresh, then they take turns; the samples of all rounds are
pooled, so a busy moment on the machine lands on all alike. Every round is run twice: with all
processes on one core, and free (see ``cpus``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from bench import bench_ping
from bench.suite import cpus, dotnet
from bench.suite.services import GrpcClient, HttpClient, ServiceProcess, grpc_round_trips, http_round_trips
from bench.suite.stats import latency_summary, median, percentile

WIRES = [("stdio", "msgpack"), ("stdio", "json"), ("pipe", "msgpack"), ("pipe", "json")]
WARM_UP_CALLS = 300
MAX_CALLS = 20_000  # frames pre-built per encoding (ids 1..MAX_CALLS, reused each round)
# The floor's channel per worker transport: stdio rides on OS pipes, the pipe transport on a Unix socket.
FLOOR_CHANNEL = {"stdio": "pipe", "pipe": "socket"}

RoundTrips = Callable[[int], list[float]]
# Starts a contender's processes (closed with the stack) and returns its round-trip function.
Contender = Callable[[ExitStack], RoundTrips]

_CALLS: dict[str, bench_ping.Calls] = {}


def _calls(encoding: str) -> bench_ping.Calls:
    if encoding not in _CALLS:
        _CALLS[encoding] = bench_ping.Calls(encoding, MAX_CALLS)
    return _CALLS[encoding]


def _seconds(channel: bench_ping.Channel, calls: bench_ping.Calls) -> RoundTrips:
    return lambda n: [us / 1e6 for us in bench_ping.sequential(channel, calls, n)]


def _floor(transport: str) -> Contender:
    def start(stack: ExitStack) -> RoundTrips:
        calls = _calls("msgpack")
        channel = bench_ping.start_floor(transport, calls.reply_frame)
        stack.callback(channel.close)
        return _seconds(channel, calls)

    return start


def _worker(transport: str, encoding: str) -> Contender:
    def start(stack: ExitStack) -> RoundTrips:
        channel, _ = bench_ping.start_worker(transport, encoding)
        stack.callback(channel.close)
        return _seconds(channel, _calls(encoding))

    return start


PAYLOAD = b"p" * len(bench_ping.Calls("msgpack", 1).frames[0])


def _grpc(stack: ExitStack) -> RoundTrips:
    service = stack.enter_context(ServiceProcess("grpc_service"))
    client = GrpcClient(service.port)
    stack.callback(client.close)
    return lambda n: grpc_round_trips(client, PAYLOAD, n)


def _http(stack: ExitStack) -> RoundTrips:
    service = stack.enter_context(ServiceProcess("http_service"))
    client = HttpClient(service.port)
    stack.callback(client.close)
    return lambda n: http_round_trips(client, PAYLOAD, n)


def contenders() -> dict[str, Contender]:
    found: dict[str, Contender] = {f"floor_{FLOOR_CHANNEL[t]}_pingpong": _floor(t) for t in ("stdio", "pipe")}
    found.update({f"worker_{t}_{e}": _worker(t, e) for t, e in WIRES})
    found["grpc_noop"] = _grpc
    found["http_noop"] = _http
    return found


def measure_round_trips(
    *, calls: int, rounds: int, hosts: dict[str, Callable[[ExitStack], dotnet.HostRound]] | None = None
) -> dict[str, dict[str, Any]]:
    """p50/p99 per contender and placement (see ``cpus``: all on one core, or free), over the pooled
    samples of all rounds. The .NET ``hosts`` (the C# host, the pythonnet contender) report each
    round's percentiles instead of samples: their figures are medians over rounds.

    Every round starts every contender afresh, so that no process's placement luck lasts a run.
    """
    samples: dict[tuple[str, str], list[float]] = {}
    host_rounds: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for mode in cpus.MODES:
            with cpus.placement(mode), ExitStack() as stack:
                running = {name: start(stack) for name, start in contenders().items()}
                for run in running.values():
                    run(WARM_UP_CALLS)
                for name, run in running.items():
                    samples.setdefault((name, mode), []).extend(run(calls))
                    # The .NET programs' turn, between the worker and the services.
                    if name == "worker_pipe_json":
                        for host, start in (hosts or {}).items():
                            host_rounds.setdefault((host, mode), []).append(start(stack)(calls))
    result: dict[str, dict[str, Any]] = {}
    for (name, mode), values in samples.items():
        rounds_p50 = [percentile(values[i : i + calls], 50) * 1e6 for i in range(0, len(values), calls)]
        summary = {**latency_summary(values), "rounds_p50_us": [round(v, 1) for v in rounds_p50]}
        result.setdefault(name, {})[mode] = summary
    for (host, mode), per_round in host_rounds.items():
        result.setdefault(host, {})[mode] = {
            "p50_us": round(median([p50 for p50, _ in per_round]) * 1e6, 1),
            "p99_us": round(median([p99 for _, p99 in per_round]) * 1e6, 1),
            "calls": calls * len(per_round),
            "note": "median over rounds of each round's percentiles (the .NET programs report no samples)",
        }
    return result


def measure_pipelined(*, calls: int, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """worker/ping calls per second with 1, 8 and 64 in flight (MessagePack), beside the floor of
    the same channel, per placement, each round with fresh processes; medians of the rounds."""
    contenders = {
        "floor_pipe": ("floor", "stdio"),
        "worker_stdio": ("worker", "stdio"),
        "floor_socket": ("floor", "pipe"),
        "worker_pipe": ("worker", "pipe"),
    }
    rates: dict[tuple[str, str], dict[int, list[float]]] = {}
    msgpack_calls = _calls("msgpack")
    for _ in range(rounds):
        for mode in cpus.MODES:
            for name, (who, transport) in contenders.items():
                with cpus.placement(mode):
                    if who == "floor":
                        channel = bench_ping.start_floor(transport, msgpack_calls.reply_frame)
                    else:
                        channel, _ = bench_ping.start_worker(transport, "msgpack")
                    try:
                        bench_ping.sequential(channel, msgpack_calls, WARM_UP_CALLS)
                        by_depth = rates.setdefault((name, mode), {d: [] for d in bench_ping.DEPTHS})
                        for depth in bench_ping.DEPTHS:
                            rate = bench_ping.pipelined(channel, msgpack_calls, calls, depth)
                            by_depth[depth].append(rate)
                    finally:
                        channel.close()
    result: dict[str, dict[str, dict[str, float]]] = {}
    for (name, mode), by_depth in rates.items():
        result.setdefault(name, {})[mode] = {f"in_flight_{d}": round(median(v)) for d, v in by_depth.items()}
    return result
