"""Transports: where frames' bytes come from and go to (stdio or a named pipe).

A transport is two blocking functions, ``read(n)`` (b"" at end of input) and ``write_all(data)``,
plus ``close()``. Framing is layered on top; transports know nothing of frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Transport:
    name: str
    read: Callable[[int], bytes]
    write_all: Callable[[bytes], None]
    close: Callable[[], None]
    # Reads straight into a caller's buffer (the count read; 0 at end of input), so a large frame
    # lands in its final buffer without intermediate chunks. None where there is no such call.
    readinto: Callable[[memoryview], int] | None = None
