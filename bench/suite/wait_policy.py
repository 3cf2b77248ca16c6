"""torch's thread settings measured in-process, each in a process of its own (OpenMP reads them when torch
is imported): all-MiniLM-L6-v2 sentences/s in batches of 32 and one at a time, with and without another
process keeping one core busy. The measurement behind the worker's defaults (worker.models.threads).

    .venv/bin/python -m bench.suite.wait_policy            # about 3 minutes on 2 cores

Settings: 2 threads sleeping when idle (PASSIVE, the worker's default), spinning (ACTIVE), spinning for
a bounded while (GOMP_SPINCOUNT, with the policy unset), and 1 thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 4.0
SETTINGS: dict[str, tuple[int, dict[str, str]]] = {
    "2 threads, PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2 threads, ACTIVE": (2, {"OMP_WAIT_POLICY": "ACTIVE"}),
    "2 threads, GOMP_SPINCOUNT=10000": (2, {"GOMP_SPINCOUNT": "10000"}),
    "1 thread, PASSIVE": (1, {"OMP_WAIT_POLICY": "PASSIVE"}),
}
_CHOSEN = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS")


def _one(threads: int) -> dict[str, float]:
    """Runs in the child: rates for batches of 32 and of 1."""
    from bench.baselines.inprocess import MeanPoolEmbedder
    from bench.suite.sentences import sentences

    items = sentences(64)
    embedder = MeanPoolEmbedder(threads)
    embedder.embed(items[:32])
    rates = {}
    for batch in (32, 1):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            for i in range(0, len(items), batch):
                embedder.embed(items[i : i + batch])
                done += len(items[i : i + batch])
        rates[f"batch_{batch}"] = round(done / (time.perf_counter() - start), 1)
    return rates


def _measure(threads: int, env: dict[str, str]) -> dict[str, float]:
    base = {k: v for k, v in os.environ.items() if k not in _CHOSEN}
    done = subprocess.run(
        [sys.executable, "-m", "bench.suite.wait_policy", "--child", str(threads)],
        env={**base, "TOKENIZERS_PARALLELISM": "false", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        sys.stdout.write(json.dumps(_one(int(sys.argv[2]))) + "\n")
        return 0
    rows = []
    for load in ("no extra load", "one core busy"):
        spinner = (
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "one core busy" else None
        )
        try:
            for name, (threads, env) in SETTINGS.items():
                rates = _measure(threads, env)
                rows.append(f"| {name} | {load} | {rates['batch_32']} | {rates['batch_1']} |")
                sys.stderr.write(rows[-1] + "\n")
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    sys.stdout.write(
        "| torch settings | load | sentences/s, batches of 32 | one at a time |\n| --- | --- | --- | --- |\n"
    )
    sys.stdout.write("\n".join(rows) + f"\n\nload average at the end: {os.getloadavg()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
