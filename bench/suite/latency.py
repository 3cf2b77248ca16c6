"""No-op round trips (p50/p99) and pipelined calls per second.

Contenders, each in its own processes: the same-run floors (a minimal two-process ping-pong over an
OS pipe and over a Unix socket), the worker over stdio and pipe with MessagePack and JSON, the gRPC
and HTTP services, and the C# host (see ``dotnet.py``). Each round starts them all, then they take
turns; the samples of all rounds are pooled, so a busy moment on the machine lands on all alike.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import msgspec

from bench.suite.floor import PingPongFloor
from bench.suite.services import GrpcClient, HttpClient, ServiceProcess, grpc_round_trips, http_round_trips
from bench.suite.stats import latency_summary, median
from bench.suite.worker_client import BenchWorker

WIRES = [("stdio", "msgpack"), ("stdio", "json"), ("pipe", "msgpack"), ("pipe", "json")]
PING_PARAMS = {"hi": 1}
WARM_UP_CALLS = 300
WINDOWS = (1, 8, 64)

RoundTrips = Callable[[int], list[float]]
# Starts a contender's processes (closed with the stack) and returns its round-trip function.
Contender = Callable[[ExitStack], RoundTrips]


def _payload_size() -> int:
    """The worker/ping request as the worker gets it; the floor and the services move as many bytes."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "worker/ping", "params": PING_PARAMS}
    return len(msgspec.msgpack.encode(request))


PAYLOAD = b"p" * _payload_size()


def _floor(channel: str) -> Contender:
    def start(stack: ExitStack) -> RoundTrips:
        floor = stack.enter_context(PingPongFloor(channel))
        return lambda n: floor.round_trips(PAYLOAD, n)

    return start


def _worker(transport: str, encoding: str) -> Contender:
    def start(stack: ExitStack) -> RoundTrips:
        worker = stack.enter_context(BenchWorker(transport, encoding))
        return lambda n: worker.round_trips("worker/ping", PING_PARAMS, n)

    return start


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


def contenders(extra: dict[str, Contender] | None = None) -> dict[str, Contender]:
    found: dict[str, Contender] = {f"floor_{c}_pingpong": _floor(c) for c in ("pipe", "socket")}
    found.update({f"worker_{t}_{e}": _worker(t, e) for t, e in WIRES})
    found.update(extra or {})
    found["grpc_noop"] = _grpc
    found["http_noop"] = _http
    return found


def measure_round_trips(
    *, calls: int, rounds: int, extra: dict[str, Contender] | None = None
) -> dict[str, dict[str, float]]:
    """p50/p99 per contender over the pooled samples of all rounds; ``extra`` adds contenders that
    run elsewhere (the C# host).

    Every round starts every contender afresh: on a 2-core machine the scheduler places a pair of
    ping-ponging processes on one core or on two, which changes a round trip severalfold and sticks
    for a process's life, so new processes each round sample that lottery instead of drawing once.
    """
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        with ExitStack() as stack:
            running = {name: start(stack) for name, start in contenders(extra).items()}
            for run in running.values():
                run(WARM_UP_CALLS)
            for name, run in running.items():
                samples.setdefault(name, []).extend(run(calls))
    return {name: latency_summary(values) for name, values in samples.items()}


def measure_pipelined(*, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """worker/ping calls per second with 1, 8 and 64 in flight, per transport (MessagePack)."""
    result: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        workers = {t: stack.enter_context(BenchWorker(t, "msgpack")) for t in ("stdio", "pipe")}
        rates: dict[tuple[str, int], list[float]] = {}
        for worker in workers.values():
            worker.pipeline("worker/ping", _ping_params, WARM_UP_CALLS, 8)
        for _ in range(rounds):
            for transport, worker in workers.items():
                for window in WINDOWS:
                    seconds = worker.pipeline("worker/ping", _ping_params, calls, window)
                    rates.setdefault((transport, window), []).append(calls / seconds)
        for (transport, window), values in rates.items():
            row = result.setdefault(f"worker_{transport}_msgpack", {})
            row[f"in_flight_{window}"] = round(median(values))
    return result


def _ping_params(i: int) -> Any:
    return {"i": i}
