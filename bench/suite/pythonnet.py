"""CPython inside the .NET process, with pythonnet: bench/baselines/pythonnet/InProcessPython.cs, built
with mcs against the Python.Runtime.dll of the pythonnet wheel (the bench extra) and run on Mono.

It embeds this machine's shared libpython with the repository's virtual environment on its path, so it
runs the same torch, transformers and model code as the in-process baseline; what differs is the
crossing: .NET strings into Python lists, the GIL taken for each call, vectors copied out through the
buffer protocol. CSnakes embeds CPython the same way (its calls also take the GIL in the .NET process),
but needs a .NET 8 SDK and its source generator, which this machine does not have.

Mono's default thread suspension ("hybrid") deadlocked here when 64 .NET threads took turns at the GIL
(a thread holding the GIL parked for a garbage collection that waited on threads blocked on the GIL),
so the contender runs with MONO_THREADS_SUSPEND=preemptive. CoreCLR suspends threads differently.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from bench.suite import dotnet
from bench.suite.worker_client import ROOT

SOURCE = ROOT / "bench" / "baselines" / "pythonnet" / "InProcessPython.cs"
OUT = ROOT / "bench" / "results" / "pythonnet"
NETSTANDARD_FACADE = Path("/usr/lib/mono/4.5/Facades/netstandard.dll")
READY_TIMEOUT = 300.0


def runtime_dll() -> Path | None:
    """Python.Runtime.dll from the installed pythonnet wheel (found without importing pythonnet)."""
    spec = importlib.util.find_spec("pythonnet")
    if spec is None or not spec.submodule_search_locations:
        return None
    dll = Path(next(iter(spec.submodule_search_locations))) / "runtime" / "Python.Runtime.dll"
    return dll if dll.is_file() else None


def libpython() -> Path | None:
    """The shared CPython library of the interpreter running the bench, if it was built with one."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return None
    path = Path(str(sysconfig.get_config_var("LIBDIR"))) / str(sysconfig.get_config_var("LDLIBRARY"))
    return path if path.is_file() else None


@functools.cache
def build() -> tuple[Path | None, str]:
    """The compiled contender, or None and why it cannot run here (built once per bench run)."""
    if dotnet.mono_missing():
        return None, dotnet.mono_missing()
    dll = runtime_dll()
    if dll is None:
        return None, "pythonnet is not installed (pip install -e '.[bench]')"
    if libpython() is None:
        return None, "this Python has no shared libpython to embed (built without --enable-shared)"
    if not NETSTANDARD_FACADE.is_file():
        return None, f"Mono's netstandard facade is missing ({NETSTANDARD_FACADE})"
    OUT.mkdir(parents=True, exist_ok=True)
    exe = OUT / "InProcessPython.exe"
    error = dotnet.mcs(f"-r:{dll}", f"-r:{NETSTANDARD_FACADE}", "-target:exe", f"-out:{exe}", str(SOURCE))
    if error:
        return None, f"the pythonnet contender does not compile: {error}"
    return exe, ""


def _command(exe: Path, *args: str) -> list[str]:
    libpy = libpython()
    assert libpy is not None
    return [
        "mono",
        str(exe),
        *args,
        "--libpython",
        str(libpy),
        "--site",
        sysconfig.get_paths()["purelib"],
        "--root",
        str(ROOT),
    ]


def _env() -> dict[str, str]:
    dll = runtime_dll()
    assert dll is not None
    return {
        **os.environ,
        "MONO_PATH": str(dll.parent),
        "MONO_THREADS_SUSPEND": "preemptive",  # see the module's docstring
        "MONO_DEBUG": "no-gdb-backtrace",  # a native crash should not start gdb
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


# ---- latency ------------------------------------------------------------------------------


def ping_round(exe: Path, calls: int) -> tuple[float, float]:
    """One process, ``calls`` sequential no-op calls after a warm-up: (p50, p99) in seconds."""
    done = subprocess.run(
        _command(exe, "ping", "--count", str(calls)),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=OUT,
        env=_env(),
    )
    lines = [x for x in dotnet.json_lines(done.stdout) if "p50_us" in x]
    if done.returncode != 0 or not lines:
        error = (done.stderr or done.stdout).strip()[-300:]
        raise RuntimeError(f"pythonnet ping failed ({done.returncode}): {error}")
    return lines[-1]["p50_us"] / 1e6, lines[-1]["p99_us"] / 1e6


# One round of no-op calls: (p50 seconds, p99 seconds); started like the C# host's (see latency.py).
PingRound = Callable[[int], tuple[float, float]]


def latency_contenders() -> tuple[dict[str, Callable[[ExitStack], PingRound]], str]:
    exe, reason = build()
    if exe is None:
        return {}, reason
    try:  # a trial run: a contender that cannot run here is a reason, not a crash mid-section
        ping_round(exe, 10)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return {}, str(exc)

    def start(stack: ExitStack) -> PingRound:
        return lambda calls: ping_round(exe, calls)

    return {"pythonnet_noop": start}, ""


# ---- embeddings ---------------------------------------------------------------------------


class EmbeddedModel:
    """The contender's ``serve`` process: the model loaded inside a .NET process, driven a line at a time."""

    def __init__(self, exe: Path, sentences: list[str], threads: int) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self._sentences_file = OUT / "sentences.txt"
        if any("\n" in s or "\r" in s for s in sentences):
            raise ValueError("sentences go one per line")
        self._sentences_file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
        started = time.perf_counter()
        self._process = subprocess.Popen(
            _command(exe, "serve", "--threads", str(threads), "--sentences", str(self._sentences_file)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=OUT,
            env=_env(),
        )
        try:
            ready = self._read(READY_TIMEOUT)
            if not ready.get("ready"):
                raise RuntimeError(f"the pythonnet contender did not start: {ready}")
        except BaseException:
            self.close()
            raise
        self.start_to_first_embedding_s = time.perf_counter() - started

    def _read(self, timeout: float) -> dict[str, Any]:
        stdout: IO[str] | None = self._process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"the pythonnet contender exited ({self._process.wait()})")
            if line.startswith("{"):
                answer: dict[str, Any] = json.loads(line)
                if "error" in answer:
                    raise RuntimeError(f"the pythonnet contender: {answer['error']}")
                return answer
        raise TimeoutError("the pythonnet contender did not answer")

    def _ask(self, command: str) -> dict[str, Any]:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()
        return self._read(READY_TIMEOUT)

    def rate(self, kind: str, count: int) -> float:
        """Sentences per second over the first ``count`` sentences: sequential, batch32 or concurrent64."""
        return float(self._ask(f"rate {kind} {count}")["sentences_per_second"])

    def first_vector(self) -> list[float]:
        return list(self._ask("vector")["vector"])

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self._process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kib) * 1024

    def close(self) -> None:
        if self._process.poll() is None:
            try:  # "quit" has no answer: the process ends (shutting Python down) and closes stdout
                assert self._process.stdin is not None
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def start_embedded(exe: Path | None, sentences: list[str], threads: int) -> tuple[EmbeddedModel | None, str]:
    if exe is None:
        return None, "not built"
    try:
        return EmbeddedModel(exe, sentences, threads), ""
    except (RuntimeError, OSError, TimeoutError, subprocess.SubprocessError) as exc:
        return None, str(exc)


# ---- fault isolation ----------------------------------------------------------------------


def faults(exe: Path) -> dict[str, Any]:
    """An ordinary Python error, then a native crash, inside the .NET process: what the app saw."""
    done = subprocess.run(
        _command(exe, "faults"),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=OUT,  # where Mono writes its crash reports (mono_crash.*)
        env=_env(),
    )
    seen: dict[str, Any] = {}
    for line in dotnet.json_lines(done.stdout):
        seen.update(line)
    code = done.returncode
    return {
        "python_exception": seen.get("python_exception"),
        "native_crash": seen.get("native_crash"),
        "dotnet_process_survived": bool(seen.get("survived")),
        "exit_code": code,
        "exit_signal": signal.Signals(-code).name if code < 0 else None,
        "exit_code_meaning": _exit_meaning(code),
    }


def _exit_meaning(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    if code > 128 and code - 128 in {s.value for s in signal.Signals}:
        return f"exit code {code}: the runtime died of {signal.Signals(code - 128).name}"
    return f"exit code {code}"
