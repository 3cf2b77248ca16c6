"""Fault isolation: what a .NET app sees when Python code crashes the way a bug in a native extension
does (reading address 0), measured both ways in the same run:

- in-process (pythonnet): the crash happens inside the .NET process (``pythonnet.faults``);
- through the worker: the C# demo's ``crash`` command calls ``test/crash`` with ``native: true`` on a
  one-worker pool, catches the error, and times the pool's way back to answering.

Not a speed: a fact about each design, recorded so that the README's claim is a measurement.
"""

from __future__ import annotations

import subprocess
from typing import Any

from bench.suite import dotnet, pythonnet


def _demo_crash() -> dict[str, Any]:
    demo, reason = dotnet.build()
    if demo is None:
        return {"reason": reason}
    try:
        done = dotnet.run_demo(demo, "crash", timeout=300)
    except subprocess.TimeoutExpired:
        return {"reason": "the C# demo's crash command did not finish in 300 s"}
    lines = dotnet.json_lines(done.stdout)
    if not lines:
        return {"reason": f"the C# demo's crash command printed no result ({done.returncode})"}
    result = lines[-1]
    result["demo_exit_code"] = done.returncode
    return result


def measure() -> dict[str, Any]:
    exe, reason = pythonnet.build()
    return {
        "pythonnet": pythonnet.faults(exe) if exe is not None else {"reason": reason},
        "worker_pool": _demo_crash(),
    }
