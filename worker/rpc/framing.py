"""Framing: cut a byte stream into payloads, and wrap payloads for sending.

Three framings, chosen with ``--framing``:

- ``length``  4-byte unsigned big-endian payload length, then the payload
              (StreamJsonRpc's LengthHeaderMessageHandler).
- ``lsp``     ``Content-Length: N\\r\\n`` (other headers allowed and ignored), ``\\r\\n``, payload
              (the Language Server Protocol base protocol; StreamJsonRpc's HeaderDelimitedMessageHandler).
- ``ndjson``  one JSON payload per line (``\\n``; a ``\\r`` before it is dropped; blank lines skipped).

A frame over the size limit is consumed and thrown away without buffering it, and ``FrameTooLarge``
is raised: the stream stays in step and the next frame is read normally. A frame whose buffer cannot
be allocated (MemoryError while it arrives) is thrown away the same way, and ``FrameOutOfMemory``
(-32008) is raised: memory is short, but the stream and the worker are fine. A header that cannot be
parsed raises ``ParseError`` once the reader is past it. Only the end of input in the middle of a
frame (``TruncatedStream``) ends the stream. Framing knows nothing of JSON-RPC.

Nothing here trusts a number it reads: a declared length is compared with the limit before anything
is done with it, a decimal length is bounded in digits before it becomes an int (Python refuses to
convert more than 4300 digits, and would build a giant int below that), and a frame's buffer grows
with the bytes that actually arrive, never allocated whole from the declared length.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

from worker.errors import FrameTooLarge, ParseError, ResourceExhausted
from worker.rpc.frame_head import HEAD_BYTES

ReadFn = Callable[[int], bytes]
ReadIntoFn = Callable[[memoryview], int]

_CHUNK = 1 << 16
_MAX_HEADER_LINE = 8192
# A large frame's buffer starts at this size and doubles as its bytes arrive (see _read_large).
_FIRST_STEP = 1 << 20
# What the buffer grows by is copied from here, at most this much at a time. Never written, so it
# costs address space but no memory (its pages are the kernel's shared zero page); growing from a
# fresh bytes(n) each time was several times slower (a new mapping to fault in per step).
_ZEROS = memoryview(bytes(16 << 20))
# No stream can carry more than 2**63 - 1 bytes (19 digits), and no client declares it: a longer
# Content-Length is refused as malformed rather than discarded byte by byte until the end of input.
_MAX_LENGTH = (1 << 63) - 1
_MAX_LENGTH_DIGITS = len(str(_MAX_LENGTH))


class TruncatedStream(Exception):
    """The input ended in the middle of a frame: nothing can be answered, the stream is over."""


class FrameOutOfMemory(ResourceExhausted):
    """A frame's bytes could not be held in memory: they were read past and dropped, and the stream
    is still in step. Raised instead of MemoryError, which would otherwise end the reader."""

    def __init__(self, size: int | None, head: bytes | None = None) -> None:
        self.head = head  # its first bytes, as FrameTooLarge.head
        what = f"a frame of {size} bytes" if size is not None else "a line"
        super().__init__(
            f"out of memory while receiving {what}: the frame was dropped unread "
            "(memory is short in the worker)"
        )


class ByteSource:
    """Buffered reads over a ``read(n)`` function that returns b"" at end of input."""

    def __init__(self, read: ReadFn, readinto: ReadIntoFn | None = None) -> None:
        self._read = read
        self._readinto = readinto
        self._buf = bytearray()
        self._pos = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        chunk = self._read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self._buf += chunk
        return True

    def _copy(self, start: int, end: int) -> bytes:
        # Through a view: slicing the bytearray first would copy the bytes twice (an ndjson line can
        # be --max-frame-bytes long). The view is released at once, so the buffer can grow again.
        with memoryview(self._buf) as view:
            return bytes(view[start:end])

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def at_eof(self) -> bool:
        """True when no byte is left, reading more if needed."""
        return self._available() == 0 and not self._fill()

    def read_exact(self, n: int) -> bytes:
        """The next ``n`` bytes. Raises FrameOutOfMemory, with the ``n`` bytes read past, when they
        cannot be held, and TruncatedStream when the input ends first."""
        if n > self._available() and n > _CHUNK and self._readinto is not None:
            return self._read_large(n, self._readinto)
        try:
            return self._read_exact_buffered(n)
        except MemoryError:
            raise FrameOutOfMemory(n) from None

    def _read_exact_buffered(self, n: int) -> bytes:
        if n > self._available():
            # A large frame: gather its parts once instead of growing the buffer repeatedly.
            parts: list[bytes] = []
            got = 0  # of the frame's bytes, taken out of the buffer or the stream into parts
            try:
                parts.append(self._copy(self._pos, len(self._buf)))
                got = self._available()
                self._buf.clear()
                self._pos = 0
                while got < n:
                    chunk = self._read(min(max(n - got, _CHUNK), 1 << 24))
                    if not chunk:
                        self.eof = True
                        raise TruncatedStream(f"input ended {n - got} bytes before the end of a frame")
                    parts.append(chunk)
                    got += len(chunk)
                if got > n:
                    # The last read went past the frame: those bytes start the next frame. They are
                    # put back first, so that they survive the join below failing.
                    last = parts[-1]
                    cut = len(last) - (got - n)
                    self._buf += last[cut:]
                    parts[-1] = last[:cut]
                    got = n
                return b"".join(parts)
            except MemoryError:
                head = _head_of(parts)
                parts.clear()
                self.discard(n - got)  # the rest of the frame, in small steps
                raise FrameOutOfMemory(n, head) from None
        start = self._pos
        self._pos += n
        return self._copy(start, self._pos)

    def _read_large(self, n: int, readinto: ReadIntoFn) -> bytes:
        """A large frame read straight into its own buffer: the only copy is the kernel's.

        The buffer is never allocated from ``n`` alone: it starts small and doubles only when the
        bytes received so far fill it, so a header that announces 256 MiB and sends nothing more
        costs nothing, and at any time the buffer is at most twice what has arrived. Growing a
        large bytearray is a ``realloc``, which moves pages rather than copying them.
        """
        frame = bytearray(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        got = len(frame)
        while got < n:
            if got == len(frame):
                try:
                    _grow(frame, min(n - got, max(got, _FIRST_STEP)))
                except MemoryError:
                    head = _head_of([frame])
                    del frame  # the memory it holds is what the rest of the worker needs now
                    self.discard(n - got)  # the rest of the frame, in small steps
                    raise FrameOutOfMemory(n, head) from None
            view = memoryview(frame)
            try:
                count = readinto(view[got:])
            finally:
                view.release()  # a bytearray with a live view cannot grow
            if not count:
                self.eof = True
                raise TruncatedStream(f"input ended {n - got} bytes before the end of a frame")
            got += count
        return frame  # type: ignore[return-value]  # a bytearray: the decoders take any buffer

    def discard(self, n: int) -> None:
        while n > 0:
            if self._available() == 0 and not self._fill():
                raise TruncatedStream(f"input ended {n} bytes before the end of an oversized frame")
            step = min(n, self._available())
            self._pos += step
            n -= step

    def read_line(self, limit: int, *, partial_ok: bool = True) -> bytes | None:
        """Up to and excluding the next b"\\n"; None at clean end of input.

        Raises FrameTooLarge (after skipping to the end of the line) when the line exceeds limit,
        and FrameOutOfMemory (after the same skip) when it cannot be held. A last line without a
        newline is returned as a line, or with ``partial_ok=False`` raises TruncatedStream.
        """
        try:
            return self._read_line(limit, partial_ok)
        except MemoryError:
            # The buffer holds only the unfinished line (no newline was found in it): drop it all.
            head = _head_of([self._buf[self._pos : self._pos + HEAD_BYTES]])
            self._buf = bytearray()
            self._pos = 0
            self._skip_line()
            raise FrameOutOfMemory(None, head) from None

    def _read_line(self, limit: int, partial_ok: bool) -> bytes | None:
        scanned = 0
        while True:
            idx = self._buf.find(b"\n", self._pos + scanned)
            if idx >= 0:
                length = idx - self._pos
                if length > limit:
                    head = self._copy(self._pos, self._pos + HEAD_BYTES)
                    self._pos = idx + 1
                    raise _too_large(f"line of {length} bytes exceeds the limit of {limit} bytes", head)
                line = self._copy(self._pos, idx)
                self._pos = idx + 1
                return line
            scanned = self._available()
            if scanned > limit:
                head = self._copy(self._pos, self._pos + HEAD_BYTES)
                self._skip_line()
                raise _too_large(f"line exceeds the limit of {limit} bytes", head)
            if not self._fill():
                if self._available() == 0:
                    return None
                if not partial_ok:
                    raise TruncatedStream("input ended inside a line")
                line = self._copy(self._pos, len(self._buf))
                self._pos = len(self._buf)
                return line

    def _skip_line(self) -> None:
        while True:
            idx = self._buf.find(b"\n", self._pos)
            if idx >= 0:
                self._pos = idx + 1
                return
            self._pos = len(self._buf)
            if not self._fill():
                return


def _too_large(message: str, head: bytes) -> FrameTooLarge:
    error = FrameTooLarge(message)
    error.head = head
    return error


def _head_of(parts: list[bytes] | list[bytearray]) -> bytes | None:
    """The first HEAD_BYTES of a frame's parts (a few KiB, when memory allows even that)."""
    try:
        head = b""
        for part in parts:
            head += bytes(part[: HEAD_BYTES - len(head)])
            if len(head) >= HEAD_BYTES:
                break
        return head
    except MemoryError:
        return None


def _grow(buffer: bytearray, size: int) -> None:
    """Lengthen buffer by size bytes (a realloc, which moves a large block's pages, not its bytes)."""
    while size > 0:
        step = min(size, len(_ZEROS))
        buffer += _ZEROS[:step]
        size -= step


class Framing(Protocol):
    name: str

    def read_frame(self) -> bytes | None:
        """The next payload; None at a clean end of input.

        Raises FrameTooLarge or ParseError for a bad frame that was skipped (the stream is still
        usable), TruncatedStream when the input ended inside a frame.
        """

    def wrap(self, payload: bytes) -> bytes: ...

    def wrap_parts(self, payload: bytes) -> tuple[bytes, bytes, bytes]:
        """What ``wrap`` joins (prefix, payload, suffix): a large payload is written without a copy."""
        ...


class LengthFraming:
    name = "length"
    _HEADER = struct.Struct(">I")

    def __init__(self, source: ByteSource, max_frame_bytes: int) -> None:
        self._src = source
        self._max = max_frame_bytes

    def read_frame(self) -> bytes | None:
        if self._src.at_eof():
            return None
        (size,) = self._HEADER.unpack(self._src.read_exact(4))
        if size > self._max:
            head = self._src.read_exact(min(size, HEAD_BYTES))
            self._src.discard(size - len(head))
            raise _too_large(f"frame of {size} bytes exceeds the limit of {self._max} bytes", head)
        return self._src.read_exact(size)

    def wrap(self, payload: bytes) -> bytes:
        return self._HEADER.pack(len(payload)) + payload

    def wrap_parts(self, payload: bytes) -> tuple[bytes, bytes, bytes]:
        return self._HEADER.pack(len(payload)), payload, b""


class LspFraming:
    name = "lsp"

    def __init__(self, source: ByteSource, max_frame_bytes: int) -> None:
        self._src = source
        self._max = max_frame_bytes

    def read_frame(self) -> bytes | None:
        length: int | None = None
        problem: str | None = None
        saw_header = False
        while True:
            try:
                # A header line cut by the end of input is truncation: a lone "\r" there must not
                # pass for the blank line that ends the headers.
                line = self._src.read_line(_MAX_HEADER_LINE, partial_ok=False)
            except FrameTooLarge:
                problem = "header line too long"
                saw_header = True
                continue
            if line is None:
                if saw_header:
                    raise TruncatedStream("input ended inside a header block")
                return None
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if not saw_header:
                    continue  # stray blank line between messages
                break
            saw_header = True
            name, sep, value = line.partition(b":")
            if not sep:
                problem = f"malformed header line {line[:80]!r}"
            elif name.strip().lower() == b"content-length":
                # The last Content-Length counts, an invalid one too: a later "-1" must not leave an
                # earlier value in force that the sender meant to replace.
                length, why = _parse_length(value.strip())
                if length is None:
                    problem = why
        if length is None:
            # Without a length the body cannot be found; the header block is dropped and the
            # reader looks for the next one.
            raise ParseError(problem or "header block without Content-Length")
        if length > self._max:
            head = self._src.read_exact(min(length, HEAD_BYTES))
            self._src.discard(length - len(head))
            raise _too_large(f"frame of {length} bytes exceeds the limit of {self._max} bytes", head)
        return self._src.read_exact(length)

    def wrap(self, payload: bytes) -> bytes:
        return b"Content-Length: %d\r\n\r\n" % len(payload) + payload

    def wrap_parts(self, payload: bytes) -> tuple[bytes, bytes, bytes]:
        return b"Content-Length: %d\r\n\r\n" % len(payload), payload, b""


def _parse_length(digits: bytes) -> tuple[int | None, str | None]:
    """A Content-Length value: (length, None), or (None, why it is refused).

    Decimal ASCII digits only: int() would also take "-5" (and the reader would then step
    backwards in its buffer), "+5", "1_0" and other scripts' digits. Leading zeros are dropped
    before the digits are counted, so "000...0002" is 2 however many zeros it has, and the count
    is bounded before int() sees them.
    """
    if not digits.isdigit():  # bytes.isdigit is ASCII only, and false for b""
        return None, f"invalid Content-Length {digits[:40]!r}"
    significant = digits.lstrip(b"0") or b"0"
    if len(significant) > _MAX_LENGTH_DIGITS or int(significant) > _MAX_LENGTH:
        return None, f"Content-Length of {len(significant)} digits is out of range"
    return int(significant), None


class NdjsonFraming:
    name = "ndjson"

    def __init__(self, source: ByteSource, max_frame_bytes: int) -> None:
        self._src = source
        self._max = max_frame_bytes

    def read_frame(self) -> bytes | None:
        while True:
            line = self._src.read_line(self._max)
            if line is None:
                return None
            line = line.rstrip(b"\r")
            if line.strip():
                return line

    def wrap(self, payload: bytes) -> bytes:
        # msgspec's JSON never contains a raw newline: strings escape it.
        return payload + b"\n"

    def wrap_parts(self, payload: bytes) -> tuple[bytes, bytes, bytes]:
        return b"", payload, b"\n"


def make_framing(
    name: str, read: ReadFn, max_frame_bytes: int, readinto: ReadIntoFn | None = None
) -> Framing:
    source = ByteSource(read, readinto)
    if name == "length":
        return LengthFraming(source, max_frame_bytes)
    if name == "lsp":
        return LspFraming(source, max_frame_bytes)
    if name == "ndjson":
        return NdjsonFraming(source, max_frame_bytes)
    raise ValueError(f"unknown framing {name!r}")
