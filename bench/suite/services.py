"""Clients for the gRPC and HTTP baseline services, and a context manager that runs one.

The clients are the leanest usual ones, to be fair to the baselines: grpcio's own channel for gRPC,
and the standard library's keep-alive ``http.client`` for HTTP (lighter than any async client).
Concurrency comes from client threads, one connection (HTTP) or call (gRPC) per thread.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """``python -m bench.baselines.<module>`` until the block ends. Starting returns at once (so that
    several services load their models side by side); ``port`` waits until it serves."""

    def __init__(self, module: str, *args: str, ready_timeout: float = 180.0) -> None:
        self.module = module
        self.ready_timeout = ready_timeout
        self._port: int | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"bench.baselines.{module}", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            text=True,
        )

    @property
    def port(self) -> int:
        if self._port is None:
            assert self.proc.stdout is not None
            timer = threading.Timer(self.ready_timeout, self.proc.kill)
            timer.start()
            line = self.proc.stdout.readline()
            timer.cancel()
            if not line.startswith("PORT "):
                raise RuntimeError(f"{self.module} did not start (exit code {self.proc.poll()})")
            self._port = int(line.split()[1])
        return self._port

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def close(self) -> None:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- gRPC ---------------------------------------------------------------------------------


class GrpcClient:
    def __init__(self, port: int) -> None:
        import grpc

        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.noop = self.channel.unary_unary("/bench.Bench/Noop")
        self.embed = self.channel.unary_unary("/bench.Bench/Embed")

    def close(self) -> None:
        self.channel.close()


def grpc_round_trips(client: GrpcClient, payload: bytes, calls: int) -> list[float]:
    times = []
    clock = time.perf_counter
    for _ in range(calls):
        start = clock()
        answer = client.noop(payload)
        times.append(clock() - start)
        if answer != payload:
            raise RuntimeError("gRPC no-op answered something else")
    return times


# ---- HTTP ---------------------------------------------------------------------------------


class HttpClient:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: bytes) -> bytes:
        self.conn.request("POST", path, body=body, headers={"Content-Type": "application/octet-stream"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: HTTP {response.status}: {data[:200]!r}")
        return data

    def close(self) -> None:
        self.conn.close()


def http_round_trips(client: HttpClient, payload: bytes, calls: int) -> list[float]:
    times = []
    clock = time.perf_counter
    for _ in range(calls):
        start = clock()
        answer = client.post("/noop", payload)
        times.append(clock() - start)
        if answer != payload:
            raise RuntimeError("HTTP no-op answered something else")
    return times


# ---- concurrent embedding load ------------------------------------------------------------


def concurrent_rate(
    make_call: Callable[[], Callable[[str], Any]], items: Sequence[str], clients: int
) -> float:
    """Items per second when ``clients`` threads share ``items``, each thread with its own
    connection (``make_call`` builds one per thread) and one request in flight."""
    next_index = iter(range(len(items)))
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def run() -> None:
        call = make_call()
        barrier.wait()
        try:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                call(items[i])
        except BaseException as exc:  # reported after the threads join
            errors.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} client threads failed, first: {errors[0]!r}")
    return len(items) / elapsed
