"""Chaos: the C# worker pool under load while its workers are killed and hung at random.

Runs the dotnet-host ``stress`` sample (a WorkerPool of N workers serving M requests, which prints a
final JSON line {"requests", "succeeded", "failed", "lost", "restarts", "seconds"}) and, while it
runs, every --interval seconds (on average) picks one of its serving workers and either
  - kills it with SIGKILL (a crash: the pool must fail or retry its calls and restart the slot), or
  - freezes it with SIGSTOP (a hang: the process holds its pipe open and answers nothing, not even
    worker/ping, as a C extension stuck while holding the GIL does; the pool's health check must
    find it, kill it and replace it). The sample's workers run as production ones do, without
    --enable-test-methods, so test/hang cannot be sent to them; SIGSTOP freezes every thread the
    same way test/hang with hold_gil does.
Every --hang-every'th strike is a hang, the others kills. After the chaos phase it waits for the
pool to be back to N serving workers (each with the model loaded again), then for the sample to end.

Asserts: lost == 0 (every call ended with a result or an error), succeeded + failed == requests,
the pool back to full strength after the chaos, at least one restart per worker killed or hung.

    .venv/bin/python bench/chaos.py [--workers 3] [--requests 40000] [--chaos-seconds 45] [--interval 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.suite import dotnet  # noqa: E402

# A worker with torch and all-MiniLM-L6-v2 loaded holds about 490 MiB; an idle one about 18 MiB.
MODEL_LOADED_RSS = 300 << 20

# ---- the pool's worker processes, seen from outside -----------------------------------------


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), fields[0].decode()
    except (OSError, IndexError, ValueError):
        return None


def _is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return b"-m" in args and b"worker" in args


def pool_workers(host_pid: int) -> dict[int, str]:
    """The host's worker processes and their states (R, S, T for stopped, Z for exited)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] == host_pid and _is_worker(int(entry)):
                found[int(entry)] = stat[1]
    return found


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def live_workers(host_pid: int) -> list[int]:
    return [pid for pid, state in pool_workers(host_pid).items() if state not in ("T", "t", "Z", "X")]


# ---- chaos --------------------------------------------------------------------------------


class Chaos:
    def __init__(self, host_pid: int, interval: float, hang_every: int, seed: int) -> None:
        self.host_pid = host_pid
        self.interval = interval
        self.hang_every = hang_every
        self.rng = random.Random(seed)
        self.killed: list[int] = []
        self.hung: list[int] = []
        self.stop = threading.Event()

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.wait(self.rng.expovariate(1 / self.interval)):
            if time.monotonic() >= deadline:
                return
            # Serving workers only (model loaded): a worker killed while it starts is a failed
            # start, not a restart, and would blur the accounting.
            victims = [pid for pid in live_workers(self.host_pid) if rss_bytes(pid) > MODEL_LOADED_RSS]
            if not victims:
                continue
            pid = self.rng.choice(victims)
            try:
                if (len(self.killed) + len(self.hung)) % self.hang_every == self.hang_every - 1:
                    os.kill(pid, signal.SIGSTOP)
                    self.hung.append(pid)
                else:
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
            except ProcessLookupError:
                pass  # it ended on its own between the listing and the signal


def build_sample() -> str:
    demo, reason = dotnet.build()
    if demo is None:
        raise SystemExit(f"chaos: cannot build the C# host's stress sample: {reason}")
    return str(demo)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument(
        "--chaos-seconds", type=float, default=45.0, help="how long workers are killed and hung"
    )
    parser.add_argument("--interval", type=float, default=4.0, help="mean seconds between two strikes")
    parser.add_argument("--hang-every", type=int, default=3, help="every Nth strike hangs instead of kills")
    parser.add_argument("--recovery-timeout", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("sample_args", nargs="*", help="extra arguments for the stress sample (after --)")
    args = parser.parse_args()

    sample = build_sample()
    command = [
        "mono", sample, "stress", "--workers", str(args.workers), "--requests", str(args.requests),
        "--venv", str(dotnet.VENV), *args.sample_args,
    ]  # fmt: skip
    started = time.monotonic()
    host = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "MONO_PATH": str(dotnet.OUT)},
    )  # fmt: skip
    stdout_lines: list[str] = []
    stderr_tail: list[str] = []
    readers = [
        threading.Thread(target=lambda: stdout_lines.extend(host.stdout or []), daemon=True),
        threading.Thread(target=lambda: stderr_tail.extend(host.stderr or []), daemon=True),
    ]
    for t in readers:
        t.start()

    # Strike only once the load runs: every worker has loaded the model (its resident memory shows
    # it), so the pool's start-up itself is not what is being tested.
    deadline = time.monotonic() + 180
    while host.poll() is None and time.monotonic() < deadline:
        live = live_workers(host.pid)
        if len(live) == args.workers and all(rss_bytes(pid) > MODEL_LOADED_RSS for pid in live):
            break
        time.sleep(0.2)
    time.sleep(2)
    chaos = Chaos(host.pid, args.interval, args.hang_every, args.seed)
    chaos.run(args.chaos_seconds)

    # Back to full strength: N live workers again, every frozen one gone.
    recovered_after = None
    recovery_start = time.monotonic()
    while host.poll() is None and time.monotonic() - recovery_start < args.recovery_timeout:
        workers = pool_workers(host.pid)
        serving = [
            pid for pid, state in workers.items()
            if state not in ("T", "t", "Z", "X") and rss_bytes(pid) > MODEL_LOADED_RSS
        ]  # fmt: skip
        if len(serving) == args.workers and not any(pid in workers for pid in chaos.hung):
            recovered_after = time.monotonic() - recovery_start
            break
        time.sleep(0.1)
    still_running_at_recovery = host.poll() is None

    try:
        host.wait(timeout=1800)
    except subprocess.TimeoutExpired:
        host.kill()
        host.wait()
    for t in readers:
        t.join(10)
    # Frozen workers the pool never reaped would outlive us: end them (they are our own victims).
    for pid in chaos.hung:
        if _stat(pid) is not None:
            os.kill(pid, signal.SIGKILL)

    summary: dict[str, Any] = {}
    for line in reversed(stdout_lines):
        try:
            summary = json.loads(line)
            break
        except ValueError:
            continue
    # The sample's last statistics line, e.g. "... pool: workers 3/3, in flight 0, ...": the pool's
    # own view at the end of the run, long after the last strike.
    strength = None
    for line in stdout_lines:
        match = re.search(r"pool: workers (\d+)/(\d+)", line)
        if match:
            strength = (int(match.group(1)), int(match.group(2)))
    report = {
        "workers": args.workers,
        "requests": args.requests,
        "chaos_seconds": args.chaos_seconds,
        "killed": len(chaos.killed),
        "hung": len(chaos.hung),
        "pool_back_to_full_strength_after_seconds": None
        if recovered_after is None
        else round(recovered_after, 1),
        "sample_exit_code": host.returncode,
        "sample": summary,
        "pool_workers_at_end": None if strength is None else f"{strength[0]}/{strength[1]}",
        "sample_output": [line.rstrip() for line in stdout_lines if not line.startswith("{")],
        "seconds": round(time.monotonic() - started, 1),
    }
    problems = []
    if not summary:
        problems.append("the stress sample printed no JSON summary")
    else:
        if summary.get("lost") != 0:
            problems.append(f"lost calls: {summary.get('lost')}")
        if summary.get("succeeded", 0) + summary.get("failed", 0) != summary.get("requests"):
            problems.append("succeeded + failed != requests")
        if summary.get("restarts", 0) < len(chaos.killed) + len(chaos.hung):
            problems.append(
                f"{summary.get('restarts')} restarts for {len(chaos.killed) + len(chaos.hung)} strikes"
            )
    if strength is None or strength[0] != args.workers:
        problems.append(f"the pool ended with workers {strength} instead of {args.workers}/{args.workers}")
    if recovered_after is None:
        problems.append(
            "the pool was not seen back at full strength"
            + ("" if still_running_at_recovery else " (the sample ended first: raise --requests)")
        )
    if host.returncode != 0:
        problems.append(f"the stress sample exited with {host.returncode}: {''.join(stderr_tail[-5:])}")
    report["problems"] = problems
    report["ok"] = not problems
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
