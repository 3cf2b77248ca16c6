"""A real worker under an address-space cap, for the attack tests in this folder.

Under ``RLIMIT_AS`` an allocation past the cap fails at once (MemoryError, or a failed malloc in C)
instead of the kernel's OOM killer picking a victim minutes later, so "the worker survives memory
pressure" is quick and deterministic to test: a worker that does not check sizes before allocating
dies, one that does answers -32008 and keeps serving.

The cap is set with ``prlimit`` in front of the worker's command, so the test process itself is
never capped. The default leaves room for Python, msgspec and numpy, not for torch: tests that load
a model pass a larger cap.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

import pytest

from tests.e2e.wire import Wire, WorkerProcess

MiB = 1 << 20
GiB = 1 << 30

# Enough for the worker with numpy and pillow, not for gigabytes of anything.
DEFAULT_CAP_BYTES = 1 * GiB
# torch maps large libraries and reserves address space at import; a model test needs this much.
TORCH_CAP_BYTES = 6 * GiB

needs_prlimit = pytest.mark.skipif(
    shutil.which("prlimit") is None or not sys.platform.startswith("linux"),
    reason="needs util-linux prlimit (Linux)",
)


def capped_command(cap_bytes: int) -> list[str]:
    """The worker's command line under an address-space cap of ``cap_bytes``."""
    prlimit = shutil.which("prlimit")
    assert prlimit is not None
    return [prlimit, f"--as={cap_bytes}", "--", sys.executable, "-m", "worker"]


def capped_worker(wire: Wire, *args: str, cap_bytes: int = DEFAULT_CAP_BYTES, **kwargs: Any) -> WorkerProcess:
    """A started worker (``worker/ready`` received) whose address space is capped at ``cap_bytes``."""
    return WorkerProcess(wire, *args, command=capped_command(cap_bytes), **kwargs)
