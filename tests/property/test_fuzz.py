"""Property-based tests: random, truncated and oversized frames and random JSON-RPC shapes.

Three targets: the framing layer alone; a real Dispatcher in memory; and the real worker process
(fewer examples). Whatever arrives, each request with a valid id gets exactly one response with
that id (tests/property/oracle.py says which), nothing else is sent, and the worker keeps serving.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.e2e.wire import Wire, WorkerProcess, is_response
from tests.property.oracle import (
    KNOWN_METHODS,
    Expected,
    decode_independently,
    expect,
    expect_error,
    expect_payload,
    match,
)
from tests.unit.framing_outcomes import read_outcomes
from tests.unit.memory import MemoryWorker
from worker.errors import FrameTooLarge, ParseError
from worker.handlers import testing
from worker.rpc.framing import TruncatedStream, make_framing

# HFW_FUZZ_SCALE=10 for a long local run; the default keeps the suite fast.
SCALE = int(os.environ.get("HFW_FUZZ_SCALE", "1"))
FAST = settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUBPROCESS = settings(
    max_examples=40 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

OWN = "__fuzz-"  # ids of the tests' own calls; fuzzed ids never start with it


def not_own(frame: Any) -> bool:
    def ok(m: Any) -> bool:
        return not (isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"].startswith(OWN))

    return all(ok(m) for m in (frame if isinstance(frame, list) else [frame]))


# ---- strategies -------------------------------------------------------------------------------

# Text without surrogates: JSON escapes them and MessagePack cannot carry them at all.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def values(*, binary: bool) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
        *([st.binary(max_size=16)] if binary else []),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
        max_leaves=12,
    )


def ids(*, binary: bool) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.integers(0, 20),  # small: collisions between requests in one example
        text,
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=2),
        st.dictionaries(text, st.integers(-(2**63), 2**63 - 1), max_size=2),
        *([st.binary(max_size=4)] if binary else []),
    )


methods = st.one_of(
    st.sampled_from(sorted(KNOWN_METHODS) + ["no/such", "$/cancelRequest", "$/progress", "", "rpc.discover"]),
    text.filter(lambda m: m not in KNOWN_METHODS and not m.startswith(("worker/", "test/"))),
    st.integers(-(2**63), 2**63 - 1),
    st.none(),
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=1),
)


@st.composite
def messages(draw: st.DrawFn, *, binary: bool) -> dict[str, Any]:
    """A JSON-RPC message, usually well-formed, often with one member wrong or missing."""
    message: dict[str, Any] = {}
    if draw(st.integers(0, 7)):
        message["jsonrpc"] = draw(st.one_of(st.just("2.0"), st.sampled_from(["1.0", "2", "", 2.0, None])))
    if draw(st.integers(0, 7)):
        message["method"] = draw(methods)
    if draw(st.integers(0, 3)):
        message["id"] = draw(ids(binary=binary))
    shape = draw(st.integers(0, 5))
    if shape in (0, 1):
        message["params"] = {"value": draw(values(binary=binary))}
    elif shape == 2:
        message["params"] = draw(
            st.one_of(st.dictionaries(text, values(binary=binary), max_size=3), values(binary=binary))
        )
    elif shape == 3 and isinstance(message.get("id"), (int, str)):
        # Cancel something that may be in flight in the same example.
        message = {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": message["id"]}}
    if not draw(st.integers(0, 15)):
        message[draw(st.sampled_from(["result", "error", "extra"]))] = draw(values(binary=binary))
    return message


def frames(*, binary: bool) -> st.SearchStrategy[Any]:
    """What one frame holds: a message, a batch (of messages and junk), or a value that is neither."""
    item = st.one_of(messages(binary=binary), values(binary=binary))
    return st.one_of(
        messages(binary=binary),
        messages(binary=binary),
        st.lists(item, max_size=6),
        values(binary=binary),
    )


def encode(encoding: str, value: Any) -> bytes:
    if encoding == "json":
        return json.dumps(value, allow_nan=False).encode()
    return msgpack.packb(value, use_bin_type=True)


# ---- framing ------------------------------------------------------------------------------------


def chunked_reader(data: bytes, sizes: list[int]) -> Any:
    state = {"pos": 0, "i": 0}

    def read(n: int) -> bytes:
        step = sizes[state["i"] % len(sizes)] if sizes else n
        state["i"] += 1
        chunk = data[state["pos"] : state["pos"] + min(n, step)]
        state["pos"] += len(chunk)
        return chunk

    return read


def read_all(framing: str, data: bytes, limit: int, sizes: list[int]) -> list[Any]:
    return read_outcomes(make_framing(framing, chunked_reader(data, sizes), limit))


def payloads_for(framing: str) -> st.SearchStrategy[bytes]:
    if framing == "ndjson":
        # One line each: no newline inside, not blank, no trailing CR (dropped by design).
        return st.binary(min_size=1, max_size=64).filter(
            lambda p: b"\n" not in p and p.strip() and not p.endswith(b"\r")
        )
    return st.binary(max_size=64)


def wrap(framing: str, payload: bytes) -> bytes:
    if framing == "length":
        return struct.pack(">I", len(payload)) + payload
    if framing == "lsp":
        return b"Content-Length: %d\r\n\r\n" % len(payload) + payload
    return payload + b"\n"


chunk_sizes = st.lists(st.integers(1, 70), max_size=5)
FRAMINGS = pytest.mark.parametrize("framing", ["length", "lsp", "ndjson"])


@FRAMINGS
@FAST
@given(data=st.data(), sizes=chunk_sizes)
def test_framing_round_trips_with_oversized_frames_skipped_in_step(
    framing: str, data: st.DataObject, sizes: list[int]
) -> None:
    limit = 40
    payloads = data.draw(st.lists(payloads_for(framing), max_size=8))
    stream = b"".join(wrap(framing, p) for p in payloads)
    expected = [p if len(p) <= limit else FrameTooLarge for p in payloads]
    assert read_all(framing, stream, limit, sizes) == expected


@FRAMINGS
@FAST
@given(data=st.data(), sizes=chunk_sizes)
def test_framing_of_a_truncated_stream_keeps_every_whole_frame(
    framing: str, data: st.DataObject, sizes: list[int]
) -> None:
    payloads = data.draw(st.lists(payloads_for(framing), min_size=1, max_size=6))
    stream = b"".join(wrap(framing, p) for p in payloads)
    cut = data.draw(st.integers(0, len(stream) - 1))
    out = read_all(framing, stream[:cut], 1 << 20, sizes)
    whole = 0
    end = 0
    for p in payloads:
        if end + len(wrap(framing, p)) > cut:
            break
        end += len(wrap(framing, p))
        whole += 1
    assert out[:whole] == payloads[:whole]
    rest = out[whole:]
    if end == cut:
        assert rest == []
    elif framing == "ndjson":
        # The cut last line is still a line (or nothing, if only blank bytes remain).
        tail = stream[end:cut].rstrip(b"\r")
        assert rest == ([tail] if tail.strip() else [])
    else:
        assert rest == [TruncatedStream]


@FRAMINGS
@FAST
@given(garbage=st.binary(max_size=300), sizes=chunk_sizes)
def test_framing_of_random_bytes_ends_with_documented_outcomes_only(
    framing: str, garbage: bytes, sizes: list[int]
) -> None:
    out = read_all(framing, garbage, 64, sizes)
    assert all(isinstance(x, bytes) or x in (FrameTooLarge, ParseError, TruncatedStream) for x in out)
    assert all(len(x) <= 64 for x in out if isinstance(x, bytes))


# ---- dispatcher in memory -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def memory_workers() -> Iterator[dict[str, MemoryWorker]]:
    """One in-memory worker per encoding for all examples: cheaper than one per example, and it
    also shows that nothing an example sends leaves the dispatcher in a bad state for the next."""
    workers = {
        encoding: MemoryWorker(testing.handlers, encoding=encoding) for encoding in ("json", "msgpack")
    }
    yield workers
    for worker in workers.values():
        worker.close()


def run_in_memory(worker: MemoryWorker, payloads: list[bytes]) -> list[Any]:
    mark = len(worker.outbox.snapshot())
    for payload in payloads:
        worker.dispatcher.handle_frame(payload)
    worker.wait_idle()
    after = worker.call("worker/ping", {"alive": True}, id="__fuzz-after")
    assert after["result"] == {"alive": True}
    sent = worker.outbox.snapshot()[mark:]
    assert sent[-1] is after or sent[-1] == after
    return [m for m in sent[:-1] if not (isinstance(m, dict) and "method" in m)]


ENCODINGS = pytest.mark.parametrize("encoding", ["json", "msgpack"])


@ENCODINGS
@FAST
@given(data=st.data())
def test_dispatcher_answers_every_request_exactly_once(
    memory_workers: dict[str, MemoryWorker], encoding: str, data: st.DataObject
) -> None:
    batch = data.draw(st.lists(frames(binary=encoding == "msgpack").filter(not_own), min_size=1, max_size=5))
    expected = Expected()
    for frame in batch:
        expected.add(expect(frame))
    match(expected, run_in_memory(memory_workers[encoding], [encode(encoding, f) for f in batch]))


@ENCODINGS
@FAST
@given(payloads=st.lists(st.binary(max_size=40), min_size=1, max_size=4))
def test_dispatcher_answers_random_bytes_with_errors_and_keeps_serving(
    memory_workers: dict[str, MemoryWorker], encoding: str, payloads: list[bytes]
) -> None:
    expected = Expected()
    for payload in payloads:
        expected.add(expect_payload(encoding, payload))
    match(expected, run_in_memory(memory_workers[encoding], payloads))


@ENCODINGS
@FAST
@given(frame=frames(binary=False), cut=st.integers(1, 200))
def test_dispatcher_answers_a_truncated_payload_with_one_error(
    memory_workers: dict[str, MemoryWorker], encoding: str, frame: Any, cut: int
) -> None:
    payload = encode(encoding, frame)
    assume(cut < len(payload))
    truncated = payload[:cut]
    match(expect_payload(encoding, truncated), run_in_memory(memory_workers[encoding], [truncated]))


# ---- the real worker process --------------------------------------------------------------------

FRAME_LIMIT = 4096
PROCESS_WIRES = [
    Wire("stdio", "length", "msgpack"),
    Wire("stdio", "lsp", "json"),
    Wire("pipe", "ndjson", "json"),
]


@pytest.fixture(scope="module", params=PROCESS_WIRES, ids=lambda w: w.id)
def live(request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    with WorkerProcess(
        request.param, "--enable-test-methods", "--max-frame-bytes", str(FRAME_LIMIT)
    ) as worker:
        yield worker
        assert worker.protocol_errors == []
        assert worker.proc.poll() is None


def exchange(worker: WorkerProcess, payloads: list[bytes]) -> list[Any]:
    """Send frames in one write; everything answered once the worker says nothing is in flight."""
    mark = worker.mark()
    worker.send_raw(b"".join(worker.wire.wrap(p) for p in payloads))
    for _ in range(500):
        info = worker.response(worker.request("worker/info", id=f"{OWN}info-{worker.new_id()}"), timeout=10)[
            "result"
        ]
        if info["inflight"] == 0 and info["running_handlers"] == 0:
            break
    else:
        raise AssertionError("requests still in flight")
    # Everything written before the last info response has been read once it arrived (one stream,
    # written in order); the worker is alive and answering.
    return [
        m
        for m in worker.all_messages(mark)
        if isinstance(m, list)
        or (is_response(m) and not (isinstance(m["id"], str) and m["id"].startswith(OWN)))
    ]


@SUBPROCESS
@given(data=st.data())
def test_worker_process_answers_random_messages_exactly_once_and_stays_alive(
    live: WorkerProcess, data: st.DataObject
) -> None:
    encoding = live.wire.encoding
    batch = data.draw(st.lists(frames(binary=encoding == "msgpack").filter(not_own), min_size=1, max_size=4))
    expected = Expected()
    for frame in batch:
        expected.add(expect(frame))
    match(expected, exchange(live, [encode(encoding, f) for f in batch]))


def random_payloads(wire: Wire) -> st.SearchStrategy[bytes]:
    if wire.framing == "ndjson":
        return st.binary(max_size=60).filter(lambda p: b"\n" not in p and p.strip() != b"")
    return st.binary(max_size=60)


@SUBPROCESS
@given(data=st.data())
def test_worker_process_survives_random_and_oversized_frames(
    live: WorkerProcess, data: st.DataObject
) -> None:
    encoding = live.wire.encoding
    payloads = data.draw(st.lists(random_payloads(live.wire), min_size=1, max_size=3))
    expected = Expected()
    for payload in payloads:
        ok, value = decode_independently(encoding, payload)
        assume(not ok or not_own(value))
        expected.add(
            expect_payload(encoding, payload.rstrip(b"\r") if live.wire.framing == "ndjson" else payload)
        )
    oversize = data.draw(st.integers(0, 2))
    for _ in range(oversize):
        size = data.draw(st.integers(FRAME_LIMIT + 1, FRAME_LIMIT * 4))
        payloads.append(b"x" * size)
        expected.add(expect_error({-32002}))
    match(expected, exchange(live, payloads))
