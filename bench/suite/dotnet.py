"""The C# host as a latency contender: ``bench/dotnet/HostPingBench.cs``, compiled with mcs against the
dotnet-host library (built by ``dotnet-host/build.sh build``), times ``worker/ping`` through
``WorkerProcess.InvokeAsync`` in a Mono process that stays up for the whole latency section.

When the host cannot be built or run here, the row says so and why, instead of a number.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack

from bench.suite.worker_client import ROOT

HOST_DIR = ROOT / "dotnet-host"
SOURCE = ROOT / "bench" / "dotnet" / "HostPingBench.cs"
OUT = ROOT / "bench" / "results" / "dotnet"


class HostBench:
    """One HostPingBench.exe process (and the worker it started), driven line by line."""

    def __init__(self, exe: str, transport: str) -> None:
        env = {**os.environ, "MONO_PATH": str(OUT)}
        self.proc = subprocess.Popen(
            ["mono", exe, sys.executable, str(ROOT), transport],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "READY":
            self.close()
            raise RuntimeError(f"HostPingBench did not start (said {line!r}, exit code {self.proc.poll()})")

    def round_trips(self, calls: int) -> list[float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{calls}\n")
        self.proc.stdin.flush()
        values = [float(v) / 1e6 for v in self.proc.stdout.readline().split()]
        if len(values) != calls:
            raise RuntimeError(f"HostPingBench answered {len(values)} timings for {calls} calls")
        return values

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _mcs(*args: str) -> str | None:
    """Run mcs with the flags dotnet-host/build.sh uses; the error text when it fails."""
    done = subprocess.run(
        [
            "mcs",
            "-langversion:7",
            "-nologo",
            "-r:System.dll",
            "-r:System.Core.dll",
            "-r:System.Numerics.dll",
            *args,
        ],
        capture_output=True,
        text=True,
    )
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()[-300:]


def build() -> tuple[str | None, str]:
    """The compiled bench program, or None and the reason it could not be built.

    The library is compiled from dotnet-host/src into bench/results/dotnet/, not into dotnet-host/out/:
    a benchmark must not rewrite DLLs that a test run may have loaded at that moment.
    """
    library_sources = sorted(str(p) for p in (HOST_DIR / "src" / "HfWorker").rglob("*.cs"))
    if not library_sources:
        return None, "the C# host library is not there (no dotnet-host/src/HfWorker)"
    for tool in ("mcs", "mono"):
        if shutil.which(tool) is None:
            return None, f"{tool} is not installed (Debian: mono-devel)"
    OUT.mkdir(parents=True, exist_ok=True)
    library = OUT / "HfWorker.dll"
    error = _mcs("-target:library", f"-out:{library}", *library_sources)
    if error:
        return None, f"the C# host library does not compile: {error}"
    exe = OUT / "HostPingBench.exe"
    error = _mcs("-target:exe", f"-r:{library}", f"-out:{exe}", str(SOURCE))
    if error:
        return None, f"HostPingBench.cs does not compile: {error}"
    return str(exe), ""


def contenders() -> tuple[dict[str, Callable[[ExitStack], Callable[[int], list[float]]]], str]:
    """Latency contenders (see ``latency.Contender``) for the C# host over stdio and over a named
    pipe, or none and the reason."""
    exe, reason = build()
    if exe is None:
        return {}, reason
    try:  # a trial start, so that a host that cannot run here is a reason, not a crash mid-section
        HostBench(exe, "stdio").close()
    except (RuntimeError, OSError) as exc:
        return {}, str(exc)

    def host(transport: str) -> Callable[[ExitStack], Callable[[int], list[float]]]:
        def start(stack: ExitStack) -> Callable[[int], list[float]]:
            bench = HostBench(exe, transport)
            stack.callback(bench.close)
            return bench.round_trips

        return start

    return {f"csharp_host_{t}": host(t) for t in ("stdio", "pipe")}, ""
