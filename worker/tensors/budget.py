"""How many bytes of kept tensors the worker allows (``--max-tensor-bytes``) when not told.

The default is half the memory the worker may use, where "may use" is the smallest of

    physical memory              os.sysconf(SC_PHYS_PAGES) x SC_PAGE_SIZE
    the address-space limit      RLIMIT_AS, soft limit (ulimit -v, prlimit --as), where set
    the cgroup memory limit      /sys/fs/cgroup/memory.max (v2) or memory/memory.limit_in_bytes (v1)

The other half is left to Python, the models, the frames being read and the responses being written.
Where none of the three can be read, the default is ``FALLBACK_BUDGET_BYTES``.

Read once, when the tensor store is built: a limit raised later is not noticed.
Not here: enforcing the budget (store.py).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

FALLBACK_BUDGET_BYTES = 4 << 30
BUDGET_FRACTION = 0.5

# cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything this large is none.
_UNLIMITED_FROM = 1 << 60
_CGROUP_FILES = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def physical_memory_bytes() -> int | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every platform names these
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def address_space_limit_bytes() -> int | None:
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError, AttributeError):
        return None
    return None if soft == resource.RLIM_INFINITY or soft <= 0 else soft


def cgroup_limit_bytes(files: tuple[Path, ...] = _CGROUP_FILES) -> int | None:
    for file in files:
        try:
            text = file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _UNLIMITED_FROM else None
    return None


def usable_memory_bytes() -> int | None:
    """The memory this process may use: the smallest limit that applies, None if none can be read."""
    limits = [
        n
        for n in (physical_memory_bytes(), address_space_limit_bytes(), cgroup_limit_bytes())
        if n is not None
    ]
    return min(limits) if limits else None


def default_budget_bytes() -> int:
    usable = usable_memory_bytes()
    return FALLBACK_BUDGET_BYTES if usable is None else int(usable * BUDGET_FRACTION)


def tensor_budget_bytes(configured: int | None) -> int:
    """``--max-tensor-bytes`` if given, else the default above."""
    return configured if configured is not None else default_budget_bytes()
