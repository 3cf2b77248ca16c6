"""Every outcome of reading a stream to its end through a framing, for framing tests and fuzzers."""

from __future__ import annotations

from worker.errors import FrameTooLarge, ParseError
from worker.rpc.framing import Framing, TruncatedStream

MAX_FRAMES = 10_000


def read_outcomes(framing: Framing) -> list[object]:
    """Payloads, and the exception types raised on the way; fails if reading never ends."""
    out: list[object] = []
    for _ in range(MAX_FRAMES):
        try:
            frame = framing.read_frame()
        except (FrameTooLarge, ParseError) as exc:
            out.append(type(exc))
            continue
        except TruncatedStream:
            out.append(TruncatedStream)
            return out
        if frame is None:
            return out
        out.append(frame)
    raise AssertionError("reading never ended")
