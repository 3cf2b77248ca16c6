"""Resident memory of another process, read from outside it (/proc), so that measuring does not
allocate inside the process being measured."""

from __future__ import annotations

import os
import sys

import pytest

MiB = 1 << 20

needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/statm")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
