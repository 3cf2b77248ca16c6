"""The C# host: its library and console demo (dotnet-host/samples/Demo) compiled with mcs, with the
flags dotnet-host/build.sh uses, into bench/results/dotnet/ (never into dotnet-host/out/: a benchmark
must not rewrite DLLs that a test run may have loaded at that moment).

The latency contender is the demo's own ``ping`` command (``WorkerProcess.PingAsync``, sequential,
after a JIT warm-up). It reports percentiles, not samples, so its row is the median over rounds of
each round's p50 and p99. ``bench/chaos.py`` runs the demo's ``stress`` command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.suite.worker_client import ROOT

HOST_DIR = ROOT / "dotnet-host"
OUT = ROOT / "bench" / "results" / "dotnet"
VENV = ROOT / ".venv"
_PING_LINE = re.compile(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms")

# One round of the C# host: (p50 seconds, p99 seconds).
HostRound = Callable[[int], tuple[float, float]]


def mono_missing() -> str:
    """Why C# cannot be built and run here (mcs or mono missing), or "" when it can."""
    for tool in ("mcs", "mono"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: mono-devel)"
    return ""


def mcs(*args: str) -> str | None:
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


def build() -> tuple[Path | None, str]:
    """The compiled demo (Demo.exe), or None and the reason it could not be built."""
    library_sources = sorted(str(p) for p in (HOST_DIR / "src" / "HfWorker").rglob("*.cs"))
    demo_sources = sorted(str(p) for p in (HOST_DIR / "samples" / "Demo").rglob("*.cs"))
    if not library_sources:
        return None, "the C# host library is not there (no dotnet-host/src/HfWorker)"
    if not demo_sources:
        return None, "the C# host's demo is not there (no dotnet-host/samples/Demo)"
    if mono_missing():
        return None, mono_missing()
    OUT.mkdir(parents=True, exist_ok=True)
    library = OUT / "HfWorker.dll"
    error = mcs("-target:library", f"-out:{library}", *library_sources)
    if error:
        return None, f"the C# host library does not compile: {error}"
    demo = OUT / "Demo.exe"
    error = mcs("-target:exe", f"-r:{library}", f"-out:{demo}", *demo_sources)
    if error:
        return None, f"the C# demo does not compile: {error}"
    return demo, ""


def build_async_floor() -> tuple[Path | None, str]:
    """bench/dotnet/AsyncFloor.exe (bare C# clients, no host library: the floor of an async call under
    this runtime), or None and the reason it could not be built."""
    if mono_missing():
        return None, mono_missing()
    OUT.mkdir(parents=True, exist_ok=True)
    floor = OUT / "AsyncFloor.exe"
    error = mcs("-target:exe", f"-out:{floor}", str(ROOT / "bench" / "dotnet" / "AsyncFloor.cs"))
    if error:
        return None, f"bench/dotnet/AsyncFloor.cs does not compile: {error}"
    return floor, ""


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects a .NET program printed one per line, skipping every other line."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def run_demo(demo: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mono", str(demo), *args, "--venv", str(VENV)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "MONO_PATH": str(OUT)},
    )


def ping_round(demo: Path, transport: str, calls: int) -> tuple[float, float]:
    done = run_demo(demo, "ping", "--count", str(calls), "--transport", transport, timeout=300)
    match = _PING_LINE.search(done.stdout)
    if match is None:
        first_lines = "\n".join((done.stderr or done.stdout).strip().splitlines()[:6])
        raise RuntimeError(f"Demo ping failed ({done.returncode}): {first_lines}")
    if done.returncode != 0:
        # The measurement is complete. Mono's timer thread, aborted at exit mid-sort, used to report
        # an unhandled exception (exit code 1) about once in 50 runs; the host now keeps that list short.
        first_line = next(iter(done.stderr.strip().splitlines()), "")
        sys.stderr.write(f"[bench] Demo ping gave its result, then exited {done.returncode}: {first_line}\n")
    return float(match.group(1)) / 1000, float(match.group(2)) / 1000


def contenders() -> tuple[dict[str, Callable[[ExitStack], HostRound]], str]:
    """Latency contenders for the C# host over stdio and over a named pipe, or none and the reason."""
    demo, reason = build()
    if demo is None:
        return {}, reason
    try:  # a trial run, so that a host that cannot run here is a reason, not a crash mid-section
        ping_round(demo, "stdio", 10)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return {}, str(exc)

    def host(transport: str) -> Callable[[ExitStack], HostRound]:
        def start(stack: ExitStack) -> HostRound:
            return lambda calls: ping_round(demo, transport, calls)

        return start

    return {f"csharp_host_{t}": host(t) for t in ("stdio", "pipe")}, ""
