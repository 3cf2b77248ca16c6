"""No-op round trips (p50/p99) and pipelined calls per second.

Contenders, each in its own process and all started before timing begins: the same-run floors (a
minimal two-process ping-pong over an OS pipe and over a Unix socket), the worker over stdio and
pipe with MessagePack and JSON, the gRPC and HTTP services, and the C# host (see ``dotnet.py``).
They take turns for several rounds, and the samples of all rounds are pooled, so a busy moment on
the machine lands on all of them alike.
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


def _payload_size() -> int:
    """The worker/ping request as the worker gets it; the floor and the services move as many bytes."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "worker/ping", "params": PING_PARAMS}
    return len(msgspec.msgpack.encode(request))


def measure_round_trips(
    *, calls: int, rounds: int, extra: dict[str, RoundTrips] | None = None
) -> dict[str, dict[str, float]]:
    """p50/p99 per contender; ``extra`` adds contenders that run elsewhere (the C# host)."""
    payload = b"p" * _payload_size()
    with ExitStack() as stack:
        contenders: dict[str, RoundTrips] = {}
        for channel in ("pipe", "socket"):
            floor = stack.enter_context(PingPongFloor(channel))
            contenders[f"floor_{channel}_pingpong"] = lambda n, f=floor: f.round_trips(payload, n)  # type: ignore[misc]
        for transport, encoding in WIRES:
            worker = stack.enter_context(BenchWorker(transport, encoding))
            contenders[f"worker_{transport}_{encoding}"] = (
                lambda n, w=worker: w.round_trips("worker/ping", PING_PARAMS, n)  # type: ignore[misc]
            )
        grpc_service = stack.enter_context(ServiceProcess("grpc_service"))
        grpc_client = GrpcClient(grpc_service.port)
        stack.callback(grpc_client.close)
        contenders["grpc_noop"] = lambda n: grpc_round_trips(grpc_client, payload, n)
        http_service = stack.enter_context(ServiceProcess("http_service"))
        http_client = HttpClient(http_service.port)
        stack.callback(http_client.close)
        contenders["http_noop"] = lambda n: http_round_trips(http_client, payload, n)
        contenders.update(extra or {})

        for run in contenders.values():
            run(WARM_UP_CALLS)
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, run in contenders.items():
                samples[name] += run(calls)
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
