"""worker/ping over stdio and a named pipe, beside the floor of a bare two-process ping-pong.

For each transport (stdio, pipe) and encoding (length + msgpack, length + json):

- sequential round trips (one call in flight): p50 and p99 latency;
- pipelined calls per second with 1, 8 and 64 calls in flight;

and the same for the floor: a minimal Python child that reads each length-prefixed frame and
writes back a frame of exactly the worker's response size, over the same kind of channel (OS
pipes for stdio, a Unix socket for the pipe), driven by the same client code. Every figure is
the median of several runs; the ratio says how far the worker is from that floor.

    .venv/bin/python bench/bench_ping.py [--runs 5] [--calls 3000] [--quick]

Prints a table and writes bench/results/ping.json. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]
HEADER = struct.Struct(">I")
DEPTHS = (1, 8, 64)

# The floor: read a frame, answer with a frame of the given size, until end of input. Nothing
# decoded, nothing allocated per call beyond the reads: the least any worker could do.
FLOOR_CHILD = r"""
import os, socket, struct, sys
reply = bytes.fromhex(sys.argv[1])
if len(sys.argv) > 2:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[2])
    read, write = s.recv, s.sendall
else:
    read = lambda n: os.read(0, n)
    def write(data):
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
buf = b""
while True:
    chunk = read(65536)
    if not chunk:
        break
    buf += chunk
    out = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", buf[:4])
        if len(buf) < 4 + n:
            break
        buf = buf[4 + n:]
        out.append(reply)
    if out:
        write(b"".join(out))
"""


@dataclass
class Channel:
    """A started peer (the worker or the floor child) and how to talk to it."""

    proc: subprocess.Popen[bytes]
    write: Callable[[bytes], None]
    reader: IO[bytes]
    cleanup: Callable[[], None]

    def read_frame(self) -> bytes:
        header = self.reader.read(4)
        if len(header) < 4:
            raise EOFError("the peer closed its output")
        return self.reader.read(HEADER.unpack(header)[0])

    def close(self) -> None:
        self.cleanup()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(
    cmd: list[str], transport: str, extra_env: dict[str, str] | None = None, socket_arg: bool = False
) -> Channel:
    """Start cmd talking over stdio or over a Unix socket we listen on (the worker's --pipe)."""
    env = {**os.environ, **(extra_env or {})}
    if transport == "stdio":
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        def cleanup() -> None:
            stdin.close()

        return Channel(proc, write, proc.stdout, cleanup)
    tmp = tempfile.mkdtemp(prefix="hfwb")
    name = f"b{uuid.uuid4().hex[:8]}"
    path = os.path.join(tmp, f"CoreFxPipe_{name}")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(20)
    full = [*cmd, path] if socket_arg else [*cmd, "--pipe", name]
    proc = subprocess.Popen(
        full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "TMPDIR": tmp},
    )
    conn, _ = server.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    reader = conn.makefile("rb")

    def cleanup() -> None:
        conn.shutdown(socket.SHUT_WR)
        reader.close()
        conn.close()
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)

    return Channel(proc, conn.sendall, reader, cleanup)


def start_worker(transport: str, encoding: str) -> tuple[Channel, dict[str, Any]]:
    cmd = [
        sys.executable,
        "-m",
        "worker",
        "--framing",
        "length",
        "--encoding",
        encoding,
        "--log-level",
        "warning",
    ]
    channel = start(cmd, transport)
    decoder = msgspec.msgpack if encoding == "msgpack" else msgspec.json
    ready = decoder.decode(channel.read_frame())
    assert ready["method"] == "worker/ready", ready
    return channel, ready


def start_floor(transport: str, reply_frame: bytes) -> Channel:
    cmd = [sys.executable, "-c", FLOOR_CHILD, reply_frame.hex()]
    return start(cmd, transport, socket_arg=True)


class Calls:
    """Pre-built ping request frames, and a check that each answer is a ping result."""

    def __init__(self, encoding: str, count: int) -> None:
        self.module: Any = msgspec.msgpack if encoding == "msgpack" else msgspec.json
        encoder = self.module.Encoder()
        self.frames = [
            self._frame(
                encoder.encode({"jsonrpc": "2.0", "id": i, "method": "worker/ping", "params": {"hi": 1}})
            )
            for i in range(1, count + 1)
        ]
        self.reply_frame = self._frame(encoder.encode({"jsonrpc": "2.0", "id": 1, "result": {"hi": 1}}))

    @staticmethod
    def _frame(payload: bytes) -> bytes:
        return HEADER.pack(len(payload)) + payload

    def check(self, payload: bytes) -> None:
        # The same client-side work against the worker and the floor: decode every answer.
        if self.module.decode(payload)["result"] != {"hi": 1}:
            raise AssertionError(f"unexpected answer {payload!r}")


def sequential(channel: Channel, calls: Calls, n: int) -> list[float]:
    """Round-trip times in microseconds, one call in flight."""
    times = []
    for frame in calls.frames[:n]:
        t0 = time.perf_counter_ns()
        channel.write(frame)
        payload = channel.read_frame()
        times.append((time.perf_counter_ns() - t0) / 1000)
        calls.check(payload)
    return times


def pipelined(channel: Channel, calls: Calls, n: int, depth: int) -> float:
    """Calls per second with ``depth`` calls kept in flight."""
    frames = calls.frames[:n]
    t0 = time.perf_counter()
    sent = min(depth, n)
    channel.write(b"".join(frames[:sent]))
    for _ in range(n):
        calls.check(channel.read_frame())
        if sent < n:
            channel.write(frames[sent])
            sent += 1
    return n / (time.perf_counter() - t0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(channel: Channel, calls: Calls, n: int) -> dict[str, float]:
    sequential(channel, calls, min(300, n))  # warm up both ends
    rtts = sequential(channel, calls, n)
    result = {"p50_us": statistics.median(rtts), "p99_us": percentile(rtts, 0.99)}
    for depth in DEPTHS:
        result[f"calls_per_s_{depth}"] = pipelined(channel, calls, n, depth)
    return result


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}


def bench(transport: str, encoding: str, runs: int, n: int) -> dict[str, Any]:
    calls = Calls(encoding, n)
    worker_runs, floor_runs = [], []
    for _ in range(runs):
        # Alternate worker and floor so that drifting machine load touches both alike.
        channel, ready = start_worker(transport, encoding)
        try:
            assert ready["params"]["transport"] == transport
            worker_runs.append(measure(channel, calls, n))
        finally:
            channel.close()
        floor = start_floor(transport, calls.reply_frame)
        try:
            floor_runs.append(measure(floor, calls, n))
        finally:
            floor.close()
    worker, floor = median_of(worker_runs), median_of(floor_runs)
    ratio = {
        "p50": round(worker["p50_us"] / floor["p50_us"], 2),
        "p99": round(worker["p99_us"] / floor["p99_us"], 2),
        **{
            f"calls_per_s_{d}": round(floor[f"calls_per_s_{d}"] / worker[f"calls_per_s_{d}"], 2)
            for d in DEPTHS
        },
    }
    return {
        "transport": transport,
        "framing": "length",
        "encoding": encoding,
        "request_frame_bytes": len(calls.frames[0]),
        "response_frame_bytes": len(calls.reply_frame),
        "worker": worker,
        "floor": floor,
        "worker_over_floor": ratio,
    }


def table(results: list[dict[str, Any]]) -> str:
    head = f"{'wire':<22} {'who':<7} {'p50 us':>8} {'p99 us':>8} " + " ".join(
        f"{f'calls/s @{d}':>13}" for d in DEPTHS
    )
    lines = [head, "-" * len(head)]
    for r in results:
        wire = f"{r['transport']} length+{r['encoding']}"
        for who in ("worker", "floor"):
            m = r[who]
            lines.append(
                f"{wire if who == 'worker' else '':<22} {who:<7} {m['p50_us']:>8.1f} {m['p99_us']:>8.1f} "
                + " ".join(f"{m[f'calls_per_s_{d}']:>13,.0f}" for d in DEPTHS)
            )
        q = r["worker_over_floor"]
        lines.append(
            f"{'':<22} {'ratio':<7} {q['p50']:>7.2f}x {q['p99']:>7.2f}x "
            + " ".join(f"{q[f'calls_per_s_{d}']:>12.2f}x" for d in DEPTHS)
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--calls", type=int, default=3000, help="calls per measurement")
    parser.add_argument("--quick", action="store_true", help="1 run of 500 calls (a smoke test)")
    args = parser.parse_args()
    runs, n = (1, 500) if args.quick else (args.runs, args.calls)
    results = [
        bench(transport, encoding, runs, n)
        for transport in ("stdio", "pipe")
        for encoding in ("msgpack", "json")
    ]
    report = {
        "what": "worker/ping round trip and pipelined calls/s; floor: a bare two-process ping-pong",
        "runs": runs,
        "calls_per_measurement": n,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.system()}",
        "ratio_note": "worker_over_floor: latency worker/floor, throughput floor/worker; 1.0 = the floor",
        "results": results,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ping.json").write_text(json.dumps(report, indent=2) + "\n")
    note = f"medians of {runs} runs of {n} calls; ratio: worker/floor latency, floor/worker calls per second"
    print(f"{table(results)}\n\n({note})\nwrote {out / 'ping.json'}")  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
