"""Framing attacks against a real worker under an address-space cap: a header value the worker cannot
parse is answered -32700 and reading goes on; a declared length costs no memory until its bytes arrive.

Before the fix, an LSP ``Content-Length`` of 5,000 digits made ``int()`` raise in the reader and the
worker exit 1; seven bytes announcing 268 MB made it allocate (and zero) 268 MB at once, which a
worker under a small memory cap does not survive.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.wire import Wire, WorkerProcess, error_code, is_response
from tests.reliability.capped import MiB, capped_worker, needs_prlimit
from tests.reliability.memory import needs_proc, rss_bytes

PARSE_ERROR = -32700

pytestmark = [pytest.mark.e2e, needs_prlimit, needs_proc]

LSP_WIRES = [Wire("stdio", "lsp", "json"), Wire("pipe", "lsp", "msgpack")]
LENGTH_WIRES = [Wire("stdio", "length", "msgpack"), Wire("pipe", "length", "json")]

# Small enough that a buffer allocated whole from a declared length of 520 MB cannot fit.
SMALL_CAP = 512 * MiB


def ping_payload(wire: Wire, id: int) -> bytes:
    return wire.encode({"jsonrpc": "2.0", "id": id, "method": "worker/ping", "params": {"n": id}})


def assert_alive_and_no_crash(worker: WorkerProcess) -> None:
    assert worker.call("worker/ping", {"still": "here"})["result"] == {"still": "here"}
    assert worker.proc.poll() is None
    assert "reader failed" not in worker.stderr_text()
    assert worker.protocol_errors == []


@pytest.mark.parametrize("wire", LSP_WIRES, ids=lambda w: w.id)
def test_an_lsp_length_of_thousands_of_digits_is_a_parse_error_and_reading_goes_on(wire: Wire) -> None:
    with capped_worker(wire) as worker:
        for digits in (b"9" * 5000, b"1" + b"0" * 4300, b"1" * 20):
            mark = worker.mark()
            worker.send_raw(b"Content-Length: " + digits + b"\r\n\r\n")
            refused = worker.wait_for(lambda m: error_code(m) == PARSE_ERROR, after=mark, what="-32700")
            assert refused["id"] is None
            assert "out of range" in refused["error"]["message"]
            assert len(refused["error"]["message"]) < 200  # the digits are counted, not quoted
        assert_alive_and_no_crash(worker)


@pytest.mark.parametrize("wire", LSP_WIRES, ids=lambda w: w.id)
def test_an_lsp_length_with_thousands_of_leading_zeros_is_its_value(wire: Wire) -> None:
    with capped_worker(wire) as worker:
        payload = ping_payload(wire, 77)
        worker.send_raw(b"Content-Length: " + b"0" * 5000 + b"%d\r\n\r\n" % len(payload) + payload)
        assert worker.response(77)["result"] == {"n": 77}
        assert_alive_and_no_crash(worker)


def wait_until_read(pid: int, baseline: int, count: int, timeout: float = 20.0) -> None:
    """Until the process has read ``count`` more bytes than ``baseline`` (its /proc rchar counter):
    the event that proves the worker has seen what was sent, not a guess at how long it takes."""
    deadline = time.monotonic() + timeout
    while read_chars(pid) < baseline + count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker never read the {count} bytes sent")
        time.sleep(0.01)


def read_chars(pid: int) -> int:
    with open(f"/proc/{pid}/io", "rb") as f:
        for line in f:
            if line.startswith(b"rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


needs_proc_io = pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="reads /proc/PID/io")


@needs_proc_io
@pytest.mark.parametrize("wire", LENGTH_WIRES, ids=lambda w: w.id)
@pytest.mark.parametrize(
    ("declared", "limit"),
    [(268_435_456, None), (520_000_000, 600_000_000)],
    ids=["268MB-at-the-default-limit", "520MB-over-the-cap"],
)
def test_a_declared_length_takes_no_memory_until_its_bytes_arrive(
    wire: Wire, declared: int, limit: int | None
) -> None:
    args = ["--max-frame-bytes", str(limit)] if limit is not None else []
    with capped_worker(wire, *args, cap_bytes=SMALL_CAP) as worker:
        # worker/info is answered inline: once it is, the reader is idle and waiting for a frame.
        assert worker.call("worker/info")["result"]["max_frame_bytes"] == (limit or 268_435_456)
        before = rss_bytes(worker.proc.pid)
        baseline = read_chars(worker.proc.pid)
        attack = declared.to_bytes(4, "big") + b"abc"  # the seven bytes
        worker.send_raw(attack)
        if wire.transport == "stdio":
            # rchar counts read(2), not a socket's recv(2): only stdio can prove the bytes were read.
            wait_until_read(worker.proc.pid, baseline, len(attack))
            # The reader reads again only once it has made room for the frame: when this byte has
            # been read, whatever the worker allocates for the frame is allocated.
            worker.send_raw(b"d")
            wait_until_read(worker.proc.pid, baseline, len(attack) + 1)
            assert rss_bytes(worker.proc.pid) - before < 32 * MiB
            assert worker.proc.poll() is None
        # The frame can never be completed; at end of input the worker exits as at any other end.
        worker.close_input()
        assert worker.wait_exit(30) == 0
        worker.join_output()
        assert "input ended" in worker.stderr_text()
        assert "reader failed" not in worker.stderr_text()


@pytest.mark.parametrize("wire", LENGTH_WIRES, ids=lambda w: w.id)
def test_a_large_frame_arriving_in_pieces_is_read_whole_under_the_cap(wire: Wire) -> None:
    # The growing buffer still reads a real large frame exactly: a 16 MB ping comes back whole.
    with capped_worker(wire, cap_bytes=1024 * MiB) as worker:
        blob = os.urandom(1 << 16) * 256 if wire.encoding == "msgpack" else "ab" * (8 << 20)
        payload = wire.encode({"jsonrpc": "2.0", "id": 5, "method": "worker/ping", "params": {"b": blob}})
        framed = wire.wrap(payload)
        for start in range(0, len(framed), 3 << 20):
            worker.send_raw(framed[start : start + (3 << 20)])
        answer = worker.response(5, timeout=120)
        assert is_response(answer) and answer["result"]["b"] == blob
        assert_alive_and_no_crash(worker)
