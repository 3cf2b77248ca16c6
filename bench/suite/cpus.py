"""Where the processes of a measurement may run.

On this kind of machine (a 2-vCPU virtual machine) a ping-pong between two processes on the same
core costs ~9 us, and ~70 us when they sit on two cores and the other vCPU has gone idle (waking it
goes through the hypervisor). Left to itself, the scheduler flips between the two, even within one
process's life, so a "free" measurement is a lottery. ``one_core`` pins this process's thread to one
core before contenders start: every child process (and every thread it makes) inherits the mask,
so client and server share the core and the round trip measures the protocol, not the hypervisor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

MODES = ("one_core", "free")


@contextmanager
def placement(mode: str) -> Iterator[None]:
    if mode != "one_core" or not hasattr(os, "sched_setaffinity"):
        yield
        return
    # pid 0 is the calling thread, the one that starts the contenders' processes.
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
