"""worker.rpc.framing: bytes in, frames out, for length, lsp and ndjson."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable

import pytest

from tests.unit.framing_outcomes import read_outcomes
from worker.errors import FrameTooLarge, ParseError
from worker.rpc.framing import (
    ByteSource,
    FrameOutOfMemory,
    LengthFraming,
    LspFraming,
    NdjsonFraming,
    TruncatedStream,
    make_framing,
)

ReadFn = Callable[[int], bytes]


def reader(data: bytes, step: int | None = None) -> ReadFn:
    """A read(n) over data that returns at most ``step`` bytes per call (all it may, when None)."""
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        take = n if step is None else min(n, step)
        chunk = data[pos : pos + take]
        pos += len(chunk)
        return chunk

    return read


def frames(framing: str, data: bytes, *, limit: int = 1 << 20, step: int | None = None) -> list[object]:
    """Every outcome of reading data to its end: payloads, and the exceptions raised on the way."""
    return read_outcomes(make_framing(framing, reader(data, step), limit))


def length_frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def lsp_frame(payload: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(payload) + payload


STEPS = pytest.mark.parametrize("step", [None, 1, 3], ids=["whole", "1-byte-reads", "3-byte-reads"])

# ---- length ---------------------------------------------------------------------------------


@STEPS
def test_length_reads_consecutive_frames(step: int | None) -> None:
    data = length_frame(b"one") + length_frame(b"") + length_frame(b"three" * 100)
    assert frames("length", data, step=step) == [b"one", b"", b"three" * 100]


def test_length_header_is_big_endian() -> None:
    payload = bytes(range(256)) * 2
    assert frames("length", b"\x00\x00\x02\x00" + payload) == [payload]


@STEPS
def test_length_oversized_frame_is_skipped_and_the_next_one_read(step: int | None) -> None:
    data = length_frame(b"ok") + length_frame(b"x" * 101) + length_frame(b"after")
    assert frames("length", data, limit=100, step=step) == [b"ok", FrameTooLarge, b"after"]


def test_length_frame_exactly_at_the_limit_is_accepted() -> None:
    assert frames("length", length_frame(b"x" * 100), limit=100) == [b"x" * 100]


def test_length_oversized_frame_is_not_buffered() -> None:
    # A 4 GiB claim must be skipped by counting, not by allocating; the input ends first.
    reads: list[int] = []
    base = reader(b"\xff\xff\xff\xff" + b"z" * 1000)

    def read(n: int) -> bytes:
        reads.append(n)
        return base(n)

    f = LengthFraming(ByteSource(read), 100)
    with pytest.raises(TruncatedStream):
        f.read_frame()
    assert max(reads) <= 1 << 16


@pytest.mark.parametrize(
    "data",
    [b"\x00", b"\x00\x00\x00", length_frame(b"hello")[:-1], b"\x00\x00\x00\x05"],
    ids=["1-header-byte", "3-header-bytes", "short-payload", "no-payload"],
)
def test_length_input_ending_inside_a_frame_is_truncation(data: bytes) -> None:
    assert frames("length", length_frame(b"first") + data, step=2) == [b"first", TruncatedStream]


def test_length_oversized_frame_cut_short_is_truncation() -> None:
    assert frames("length", struct.pack(">I", 500) + b"x" * 200, limit=100) == [TruncatedStream]


def test_length_empty_input_is_a_clean_end() -> None:
    assert frames("length", b"") == []


def test_length_wrap() -> None:
    assert make_framing("length", reader(b""), 10).wrap(b"abc") == b"\x00\x00\x00\x03abc"


# ---- lsp ------------------------------------------------------------------------------------


@STEPS
def test_lsp_reads_consecutive_frames(step: int | None) -> None:
    data = lsp_frame(b'{"a":1}') + lsp_frame(b"") + lsp_frame(b"\r\n\r\nbody with blank lines\r\n")
    assert frames("lsp", data, step=step) == [b'{"a":1}', b"", b"\r\n\r\nbody with blank lines\r\n"]


@STEPS
def test_lsp_extra_headers_are_ignored_and_the_name_is_case_insensitive(step: int | None) -> None:
    data = (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        b"content-length: 5\r\n"
        b"X-Other:   value\r\n"
        b"\r\n"
        b"hello"
        b"CONTENT-LENGTH:3\r\n\r\nabc"
    )
    assert frames("lsp", data, step=step) == [b"hello", b"abc"]


def test_lsp_tolerates_bare_newlines_and_blank_lines_between_messages() -> None:
    data = b"\r\n\r\nContent-Length: 2\n\nhi\r\n" + lsp_frame(b"next")
    assert frames("lsp", data) == [b"hi", b"next"]


@STEPS
def test_lsp_header_block_without_length_is_a_parse_error_then_reading_recovers(step: int | None) -> None:
    data = b"Content-Type: application/json\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data, step=step) == [ParseError, b"after"]


@pytest.mark.parametrize(
    "header",
    [
        b"Content-Length: abc",
        b"Content-Length: -5",
        b"Content-Length:",
        b"Content-Length: 1_0",
        b"Content-Length: +5",
    ],
    ids=["letters", "negative", "empty", "underscore", "plus-sign"],
)
def test_lsp_invalid_length_is_a_parse_error_then_reading_recovers(header: bytes) -> None:
    data = header + b"\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [ParseError, b"after"]


@pytest.mark.parametrize("last", [b"-1", b"abc", b"", b"1 2", b"9" * 30])
def test_lsp_the_last_content_length_counts_even_when_it_is_invalid(last: bytes) -> None:
    # An earlier valid value must not stay in force: the worker would read 5 bytes the sender never
    # meant as this frame's body.
    data = b"Content-Length: 5\r\nContent-Length: " + last + b"\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [ParseError, b"after"]


def test_lsp_a_repeated_valid_content_length_takes_the_last() -> None:
    data = b"Content-Length: 99\r\nContent-Length: 2\r\n\r\nhi" + lsp_frame(b"after")
    assert frames("lsp", data) == [b"hi", b"after"]


@pytest.mark.parametrize(
    "digits",
    [b"9" * 5000, b"1" + b"0" * 4300, b"1" * 20, b"9223372036854775808", b"0" * 3000 + b"1" * 20],
    ids=["5000-nines", "4301-digits", "20-digits", "2**63", "zeros-then-20-digits"],
)
def test_lsp_length_too_long_for_any_stream_is_a_parse_error_then_reading_recovers(digits: bytes) -> None:
    # Python's int() raises past 4300 digits: that once ended the reader, and the worker with it.
    data = b"Content-Length: " + digits + b"\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [ParseError, b"after"]


@pytest.mark.parametrize("zeros", [1, 5000, 8000])
def test_lsp_length_with_leading_zeros_is_its_value(zeros: int) -> None:
    data = b"Content-Length: " + b"0" * zeros + b"2\r\n\r\nhi" + lsp_frame(b"after")
    assert frames("lsp", data) == [b"hi", b"after"]


def test_lsp_length_of_zeros_only_is_an_empty_frame() -> None:
    data = b"Content-Length: " + b"0" * 5000 + b"\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [b"", b"after"]


@pytest.mark.parametrize("digits", [b"\xd9\xa3", b"\xef\xbc\x93", b"\xc2\xb2", b"5 5", b"0x10"])
def test_lsp_length_in_other_digits_than_ascii_is_a_parse_error(digits: bytes) -> None:
    # Arabic-Indic three, a fullwidth three, a superscript two: str.isdigit() would take them.
    data = b"Content-Length: " + digits + b"\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [ParseError, b"after"]


def test_lsp_largest_length_is_skipped_by_count_as_documented() -> None:
    # 2**63 - 1 is a number a stream could in principle carry: it is discarded, not refused, and
    # the input ends first.
    data = b"Content-Length: 9223372036854775807\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data, limit=100) == [TruncatedStream]


def test_lsp_malformed_header_line_without_length_is_a_parse_error_then_reading_recovers() -> None:
    data = b"this is not a header\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [ParseError, b"after"]


def test_lsp_malformed_extra_line_does_not_hide_a_valid_length() -> None:
    data = b"garbage line\r\nContent-Length: 2\r\n\r\nok" + lsp_frame(b"next")
    assert frames("lsp", data) == [b"ok", b"next"]


def test_lsp_over_long_header_line_is_skipped() -> None:
    data = b"X-Long: " + b"a" * 20000 + b"\r\n\r\n" + lsp_frame(b"after")
    assert frames("lsp", data) == [ParseError, b"after"]


@STEPS
def test_lsp_oversized_frame_is_skipped_and_the_next_one_read(step: int | None) -> None:
    data = lsp_frame(b"x" * 101) + lsp_frame(b"after")
    assert frames("lsp", data, limit=100, step=step) == [FrameTooLarge, b"after"]


@pytest.mark.parametrize(
    "tail",
    [b"Content-Length: 5\r\n", b"Content-Length: 5\r\n\r\nhel", b"Content-Len"],
    ids=["inside-headers", "inside-body", "inside-a-header-line"],
)
def test_lsp_input_ending_inside_a_message_is_truncation(tail: bytes) -> None:
    assert frames("lsp", lsp_frame(b"first") + tail) == [b"first", TruncatedStream]


def test_lsp_wrap() -> None:
    assert make_framing("lsp", reader(b""), 10).wrap(b"abc") == b"Content-Length: 3\r\n\r\nabc"


# ---- ndjson ---------------------------------------------------------------------------------


@STEPS
def test_ndjson_reads_lines_skipping_blank_ones_and_dropping_cr(step: int | None) -> None:
    data = b'{"a":1}\n\n   \r\n{"b":2}\r\n\t\n{"c":3}\n'
    assert frames("ndjson", data, step=step) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_ndjson_last_line_without_newline_is_a_line() -> None:
    assert frames("ndjson", b'{"a":1}\n{"b":2}') == [b'{"a":1}', b'{"b":2}']


@STEPS
def test_ndjson_over_long_line_is_skipped_and_the_next_one_read(step: int | None) -> None:
    data = b"short\n" + b"x" * 101 + b"\n" + b"after\n"
    assert frames("ndjson", data, limit=100, step=step) == [b"short", FrameTooLarge, b"after"]


def test_ndjson_over_long_line_far_longer_than_a_read_chunk_is_skipped() -> None:
    data = b"y" * 300_000 + b"\n" + b"after\n"
    assert frames("ndjson", data, limit=100) == [FrameTooLarge, b"after"]


def test_ndjson_over_long_last_line_without_newline_is_too_large() -> None:
    assert frames("ndjson", b"ok\n" + b"x" * 500, limit=100) == [b"ok", FrameTooLarge]


def test_ndjson_line_exactly_at_the_limit_is_accepted() -> None:
    assert frames("ndjson", b"x" * 100 + b"\n", limit=100) == [b"x" * 100]


def test_ndjson_wrap() -> None:
    assert make_framing("ndjson", reader(b""), 10).wrap(b"{}") == b"{}\n"


# ---- ByteSource -----------------------------------------------------------------------------


def test_byte_source_read_exact_across_many_small_reads() -> None:
    src = ByteSource(reader(b"abcdefghij", step=1))
    assert src.read_exact(3) == b"abc"
    assert src.read_exact(0) == b""
    assert src.read_exact(7) == b"defghij"
    assert src.at_eof()


def test_byte_source_large_read_keeps_the_surplus_for_the_next_read() -> None:
    big = bytes(range(256)) * 1000
    src = ByteSource(reader(big + b"tail"))
    assert src.read_exact(len(big)) == big
    assert src.read_exact(4) == b"tail"
    assert src.at_eof()


def test_byte_source_read_exact_past_the_end_is_truncation() -> None:
    src = ByteSource(reader(b"abc"))
    with pytest.raises(TruncatedStream):
        src.read_exact(4)
    assert src.eof


def test_byte_source_discard_then_read() -> None:
    src = ByteSource(reader(b"0123456789", step=4))
    src.discard(7)
    assert src.read_exact(3) == b"789"
    with pytest.raises(TruncatedStream):
        src.discard(1)


def test_byte_source_read_line() -> None:
    src = ByteSource(reader(b"a\n\nbc\nlast", step=2))
    assert [
        src.read_line(10),
        src.read_line(10),
        src.read_line(10),
        src.read_line(10),
        src.read_line(10),
    ] == [
        b"a",
        b"",
        b"bc",
        b"last",
        None,
    ]


def test_byte_source_stops_reading_after_end_of_input() -> None:
    calls = 0

    def read(n: int) -> bytes:
        nonlocal calls
        calls += 1
        return b""

    src = ByteSource(read)
    assert src.at_eof() and src.at_eof()
    assert src.read_line(10) is None
    assert calls == 1


def test_make_framing_refuses_an_unknown_name() -> None:
    with pytest.raises(ValueError):
        make_framing("xml", reader(b""), 10)


def test_framings_report_their_names() -> None:
    src = ByteSource(reader(b""))
    assert (LengthFraming(src, 1).name, LspFraming(src, 1).name, NdjsonFraming(src, 1).name) == (
        "length",
        "lsp",
        "ndjson",
    )


# ---- a frame's buffer grows with its bytes ---------------------------------------------------


def readinto_source(data: bytes, step: int, seen: list[int] | None = None) -> ByteSource:
    """A ByteSource with readinto, as the stdio transport has, giving at most ``step`` bytes a call."""
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        chunk = data[pos : pos + min(n, step)]
        pos += len(chunk)
        return chunk

    def readinto(view: memoryview) -> int:
        nonlocal pos
        if seen is not None:
            seen.append(len(view))
        take = min(len(view), step, len(data) - pos)
        view[:take] = data[pos : pos + take]
        pos += take
        return take

    return ByteSource(read, readinto)


@pytest.mark.parametrize("step", [1000, 65536, 1 << 20, 5 << 20])
def test_large_frame_read_into_a_growing_buffer_is_exact_and_keeps_the_surplus(step: int) -> None:
    big = bytes(range(256)) * 20_000  # 5 MB: several doublings past the first step
    src = readinto_source(struct.pack(">I", len(big)) + big + length_frame(b"next"), step)
    framing = LengthFraming(src, 1 << 30)
    assert framing.read_frame() == big
    assert framing.read_frame() == b"next"
    assert framing.read_frame() is None


def test_a_large_declared_length_takes_no_memory_until_its_bytes_arrive() -> None:
    # Seven bytes announcing 256 MiB: four of header, three of payload, then the end of input.
    framing = LengthFraming(readinto_source(b"\x10\x00\x00\x00abc", 1 << 20), 1 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedStream):
            framing.read_frame()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_a_large_frame_buffer_stays_within_twice_what_arrived() -> None:
    arrived = 6 << 20
    seen: list[int] = []
    src = readinto_source(b"\x10\x00\x00\x00" + b"x" * arrived, 1 << 16, seen)
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedStream):
            LengthFraming(src, 1 << 30).read_frame()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * arrived + (4 << 20)
    assert max(seen) <= arrived


def test_lsp_large_frame_grows_with_its_bytes_too() -> None:
    big = b"y" * (3 << 20)
    src = readinto_source(lsp_frame(big) + lsp_frame(b"next"), 1 << 16)
    framing = LspFraming(src, 1 << 30)
    assert framing.read_frame() == big
    assert framing.read_frame() == b"next"


def test_an_ndjson_line_is_copied_out_of_the_buffer_once() -> None:
    line = b"n" * (8 << 20)
    framing = make_framing("ndjson", reader(line + b"\n", 1 << 16), 1 << 30)
    tracemalloc.start()
    try:
        got = framing.read_frame()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == line
    # The buffer the line gathered in, and the line: not a third copy in between.
    assert peak < 2.5 * len(line)


# ---- a frame whose buffer cannot be allocated -------------------------------------------------


def failing_growth(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Make a large frame's buffer fail to grow (MemoryError) once it holds ``after`` bytes."""
    from worker.rpc import framing

    real = framing._grow

    def grow(buffer: bytearray, size: int) -> None:
        if len(buffer) >= after:
            raise MemoryError
        real(buffer, size)

    monkeypatch.setattr(framing, "_grow", grow)


@pytest.mark.parametrize("step", [1 << 16, 3_000_001])
def test_a_frame_that_cannot_be_held_is_dropped_as_out_of_memory_and_the_next_frame_is_read(
    monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    failing_growth(monkeypatch, after=2 << 20)
    big = b"x" * (5 << 20)
    framing = LengthFraming(readinto_source(length_frame(big) + length_frame(b"next"), step), 1 << 30)
    with pytest.raises(FrameOutOfMemory) as raised:
        framing.read_frame()
    assert raised.value.code == -32008 and f"{len(big)} bytes" in raised.value.message
    assert framing.read_frame() == b"next"
    assert framing.read_frame() is None


def reader_failing_once(data: bytes, fail_on_call: int) -> ReadFn:
    """A read(n) over data that raises MemoryError (taking nothing) on its ``fail_on_call``-th call."""
    pos = 0
    calls = 0

    def read(n: int) -> bytes:
        nonlocal pos, calls
        calls += 1
        if calls == fail_on_call:
            raise MemoryError
        chunk = data[pos : pos + n]
        pos += len(chunk)
        return chunk

    return read


@pytest.mark.parametrize("name, wrap", [("length", length_frame), ("lsp", lsp_frame)])
def test_a_frame_that_cannot_be_held_on_the_buffered_path_is_skipped_in_step(
    name: str, wrap: Callable[[bytes], bytes]
) -> None:
    # Without readinto a frame is gathered in chunks; one that fails to arrive (MemoryError) is read
    # past, and the frames around it are read whole.
    big = b"y" * 300_000
    data = wrap(b"before") + wrap(big) + wrap(b"after")
    framing = make_framing(name, reader_failing_once(data, fail_on_call=2), 1 << 30)
    assert framing.read_frame() == b"before"
    with pytest.raises(FrameOutOfMemory):
        framing.read_frame()
    assert framing.read_frame() == b"after"
    assert framing.read_frame() is None


def test_an_ndjson_line_that_cannot_be_held_is_skipped_to_its_end() -> None:
    data = b'{"a":1}\n' + b"z" * 300_000 + b'\n{"b":2}\n'
    framing = make_framing("ndjson", reader_failing_once(data, fail_on_call=2), 1 << 30)
    assert framing.read_frame() == b'{"a":1}'
    with pytest.raises(FrameOutOfMemory) as raised:
        framing.read_frame()
    assert "a line" in raised.value.message
    assert framing.read_frame() == b'{"b":2}'
    assert framing.read_frame() is None
