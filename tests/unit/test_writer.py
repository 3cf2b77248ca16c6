"""worker.runtime.writer: the single way out. Whatever a handler returns, the host gets exactly one
well-formed frame per response, never one over the frame limit, and a dead host stops the worker once."""

from __future__ import annotations

import json
import struct
import threading
import time
from typing import Any

import msgpack
import pytest

from worker.errors import UnknownHandle
from worker.rpc.codec import Codec, error_response
from worker.rpc.framing import make_framing
from worker.rpc.messages import ErrorObject, ErrorResponse, OutgoingNotification, SuccessResponse
from worker.runtime.writer import FrameWriter

ENCODINGS = pytest.mark.parametrize("encoding", ["json", "msgpack"])


class Sink:
    """write_all() into memory, decoding length frames back with independent libraries."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.data = bytearray()

    def write_all(self, frame: bytes) -> None:
        self.data += frame

    def messages(self) -> list[Any]:
        out, pos = [], 0
        while pos < len(self.data):
            (size,) = struct.unpack(">I", self.data[pos : pos + 4])
            payload = bytes(self.data[pos + 4 : pos + 4 + size])
            pos += 4 + size
            out.append(
                json.loads(payload) if self.encoding == "json" else msgpack.unpackb(payload, raw=False)
            )
        return out

    def frame_sizes(self) -> list[int]:
        sizes, pos = [], 0
        while pos < len(self.data):
            (size,) = struct.unpack(">I", self.data[pos : pos + 4])
            sizes.append(size)
            pos += 4 + size
        return sizes


def make_writer(encoding: str, limit: int = 1 << 20) -> tuple[FrameWriter, Sink, list[int]]:
    sink = Sink(encoding)
    disconnects: list[int] = []
    writer = FrameWriter(
        codec=Codec(encoding),  # type: ignore[arg-type]
        framing=make_framing("length", lambda n: b"", limit),
        write_all=sink.write_all,
        max_frame_bytes=limit,
        on_disconnect=lambda: disconnects.append(1),
    )
    return writer, sink, disconnects


@ENCODINGS
def test_a_response_is_written_as_one_frame(encoding: str) -> None:
    writer, sink, _ = make_writer(encoding)
    writer.send(SuccessResponse(id=1, result={"ok": [1, 2]}))
    assert sink.messages() == [{"jsonrpc": "2.0", "id": 1, "result": {"ok": [1, 2]}}]
    assert writer.frames_sent == 1


@ENCODINGS
def test_an_oversized_result_is_replaced_by_32002_for_the_same_id(encoding: str) -> None:
    writer, sink, _ = make_writer(encoding, limit=1000)
    writer.send(SuccessResponse(id="big", result="x" * 5000))
    (answer,) = sink.messages()
    assert answer["id"] == "big" and "result" not in answer
    assert answer["error"]["code"] == -32002
    assert "1000" in answer["error"]["message"]
    assert sink.frame_sizes()[0] <= 1000


@ENCODINGS
def test_a_result_exactly_at_the_limit_is_sent(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    response = SuccessResponse(id=1, result="y" * 500)
    limit = len(codec.encode(response))
    writer, sink, _ = make_writer(encoding, limit=limit)
    writer.send(response)
    assert sink.messages()[0]["result"] == "y" * 500


class Opaque:
    pass


UNENCODABLE = {
    "object": Opaque(),
    "complex": 1j,
    "set-of-objects": {"s": [Opaque()]},
    "lone-surrogate": "\ud800",
    "nested": {"a": [1, {"b": Opaque()}]},
}


@ENCODINGS
@pytest.mark.parametrize("kind", list(UNENCODABLE))
def test_an_unencodable_result_becomes_32000_for_the_same_id(encoding: str, kind: str) -> None:
    writer, sink, _ = make_writer(encoding)
    writer.send(SuccessResponse(id=7, result=UNENCODABLE[kind]))
    (answer,) = sink.messages()
    assert answer["id"] == 7 and "result" not in answer
    assert answer["error"]["code"] == -32000
    assert "cannot be encoded" in answer["error"]["message"]


def test_an_integer_too_large_for_msgpack_becomes_32000() -> None:
    writer, sink, _ = make_writer("msgpack")
    writer.send(SuccessResponse(id=1, result=2**70))
    assert sink.messages()[0]["error"]["code"] == -32000


@ENCODINGS
def test_an_error_with_unencodable_data_is_still_sent_without_it(encoding: str) -> None:
    writer, sink, _ = make_writer(encoding)
    error = UnknownHandle("gone", data={"handle": Opaque()})
    writer.send(error_response(3, error))
    (answer,) = sink.messages()
    assert answer["id"] == 3
    assert answer["error"]["code"] == -32004 and answer["error"]["message"] == "gone"


@ENCODINGS
def test_notifications_too_large_or_unencodable_are_dropped(encoding: str) -> None:
    writer, sink, _ = make_writer(encoding, limit=1000)
    writer.send(OutgoingNotification(method="$/progress", params={"token": 1, "value": "z" * 5000}))
    writer.send(OutgoingNotification(method="$/progress", params={"token": 1, "value": Opaque()}))
    writer.send(OutgoingNotification(method="$/progress", params={"token": 1, "value": "fits"}))
    assert sink.messages() == [
        {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": 1, "value": "fits"}}
    ]


@ENCODINGS
def test_a_batch_is_one_array_frame_with_each_element_bounded(encoding: str) -> None:
    writer, sink, _ = make_writer(encoding, limit=1000)
    writer.send(
        [
            SuccessResponse(id=1, result="small"),
            SuccessResponse(id=2, result="x" * 5000),
            SuccessResponse(id=3, result=Opaque()),
            ErrorResponse(id=None, error=ErrorObject(-32600, "batch element is not an object")),
        ]
    )
    (batch,) = sink.messages()
    assert [(m["id"], m.get("result"), m.get("error", {}).get("code")) for m in batch] == [
        (1, "small", None),
        (2, None, -32002),
        (3, None, -32000),
        (None, None, -32600),
    ]


@ENCODINGS
def test_a_batch_whose_responses_together_exceed_the_limit_still_fits(encoding: str) -> None:
    # Each result fits on its own, but not all of them in one array frame.
    writer, sink, _ = make_writer(encoding, limit=4000)
    writer.send([SuccessResponse(id=i, result="r" * 300) for i in range(20)])
    (batch,) = sink.messages()
    assert sink.frame_sizes()[0] <= 4000
    assert sorted(m["id"] for m in batch) == list(range(20))
    kept = [m for m in batch if "result" in m]
    assert all(m["result"] == "r" * 300 for m in kept) and len(kept) >= 5
    assert all(m["error"]["code"] == -32002 for m in batch if "result" not in m)


@ENCODINGS
def test_a_broken_pipe_calls_on_disconnect_once_and_stops_writing(encoding: str) -> None:
    calls: list[bytes] = []

    def broken(frame: bytes) -> None:
        calls.append(frame)
        raise BrokenPipeError(32, "Broken pipe")

    disconnects: list[int] = []
    writer = FrameWriter(
        codec=Codec(encoding),  # type: ignore[arg-type]
        framing=make_framing("length", lambda n: b"", 1000),
        write_all=broken,
        max_frame_bytes=1000,
        on_disconnect=lambda: disconnects.append(1),
    )
    for i in range(5):
        writer.send(SuccessResponse(id=i, result=i))  # never raises into the caller
    assert disconnects == [1]
    assert len(calls) == 1
    assert writer.frames_sent == 0


def test_concurrent_senders_never_interleave_frames() -> None:
    inside = threading.Lock()
    overlaps: list[int] = []
    sink = Sink("msgpack")

    def write_all(frame: bytes) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(1)
            return
        try:
            half = len(frame) // 2
            sink.write_all(frame[:half])
            sink.write_all(frame[half:])
        finally:
            inside.release()

    writer = FrameWriter(
        codec=Codec("msgpack"),
        framing=make_framing("length", lambda n: b"", 1 << 20),
        write_all=write_all,
        max_frame_bytes=1 << 20,
        on_disconnect=lambda: None,
    )

    def send_many(base: int) -> None:
        for i in range(200):
            writer.send(SuccessResponse(id=base + i, result="v" * (i % 50)))

    threads = [threading.Thread(target=send_many, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []
    assert sorted(m["id"] for m in sink.messages()) == sorted(
        k * 1000 + i for k in range(8) for i in range(200)
    )


@pytest.mark.parametrize("framing", ["length", "lsp", "ndjson"])
def test_frames_use_the_configured_framing(framing: str) -> None:
    written: list[bytes] = []
    writer = FrameWriter(
        codec=Codec("json"),
        framing=make_framing(framing, lambda n: b"", 1000),
        write_all=written.append,
        max_frame_bytes=1000,
        on_disconnect=lambda: None,
    )
    writer.send(SuccessResponse(id=1, result="a\nb"))
    payload = b'{"jsonrpc":"2.0","id":1,"result":"a\\nb"}'
    expected = {
        "length": struct.pack(">I", len(payload)) + payload,
        "lsp": b"Content-Length: %d\r\n\r\n" % len(payload) + payload,
        "ndjson": payload + b"\n",
    }[framing]
    assert written == [expected]


# ---- encoded bytes waiting for the host are bounded --------------------------------------------


class CountingCodec(Codec):
    """A Codec that counts the messages it has encoded."""

    def __init__(self) -> None:
        super().__init__("msgpack")
        self.encoded = 0

    def encode(self, message: Any) -> bytes:
        self.encoded += 1
        return super().encode(message)


class GatedHost:
    """A host that does not read until ``gate`` is set: the first write blocks there."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.blocked = threading.Event()
        self.sink = Sink("msgpack")

    def write_all(self, frame: bytes) -> None:
        self.blocked.set()
        self.gate.wait(30)
        self.sink.write_all(frame)


def gated_writer(max_pending: int) -> tuple[FrameWriter, GatedHost, CountingCodec, list[int]]:
    host = GatedHost()
    codec = CountingCodec()
    disconnects: list[int] = []
    writer = FrameWriter(
        codec=codec,
        framing=make_framing("length", lambda n: b"", 1 << 20),
        write_all=host.write_all,
        max_frame_bytes=1 << 20,
        on_disconnect=lambda: disconnects.append(1),
        max_pending_bytes=max_pending,
    )
    return writer, host, codec, disconnects


def start_sending(writer: FrameWriter, *messages: Any) -> list[threading.Thread]:
    threads = [threading.Thread(target=writer.send, args=(m,)) for m in messages]
    for t in threads:
        t.start()
    return threads


def wait_for_waiters(writer: FrameWriter, count: int) -> None:
    """Until ``count`` senders wait for room (CPython's Condition keeps its waiters in _waiters)."""
    deadline = time.monotonic() + 30
    while len(writer._room._waiters) < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the senders never waited for room"
        time.sleep(0.005)


def test_messages_wait_unencoded_while_the_pending_bytes_are_at_the_limit() -> None:
    writer, host, codec, _ = gated_writer(max_pending=1000)
    first = start_sending(writer, SuccessResponse(id=1, result="x" * 5000))
    assert host.blocked.wait(30)
    assert writer.pending_bytes > 5000
    others = start_sending(writer, *(SuccessResponse(id=i, result="y" * 5000) for i in range(2, 12)))
    wait_for_waiters(writer, 10)
    # Ten large results produced, one encoded: the others hold only what they held already.
    assert codec.encoded == 1

    host.gate.set()
    for t in first + others:
        t.join(30)
    assert sorted(m["id"] for m in host.sink.messages()) == list(range(1, 12))
    assert codec.encoded == 11 and writer.pending_bytes == 0 and writer.frames_sent == 11


def test_small_messages_are_encoded_while_less_than_the_limit_waits() -> None:
    writer, host, codec, _ = gated_writer(max_pending=1000)
    first = start_sending(writer, SuccessResponse(id=1, result="small"))
    assert host.blocked.wait(30)
    pings = start_sending(writer, *(SuccessResponse(id=i, result={"ping": i}) for i in range(2, 6)))
    # Each is encoded at once (they then wait for the write in progress, as they always did).
    deadline = time.monotonic() + 30
    while codec.encoded < 5:
        assert time.monotonic() < deadline, f"only {codec.encoded} of 5 small messages were encoded"
        time.sleep(0.005)
    host.gate.set()
    for t in first + pings:
        t.join(30)
    assert sorted(m["id"] for m in host.sink.messages()) == [1, 2, 3, 4, 5]


def test_a_host_gone_while_messages_wait_for_room_drops_them_and_stops_once() -> None:
    writer, host, codec, disconnects = gated_writer(max_pending=10)

    def gone(frame: bytes) -> None:
        host.blocked.set()
        host.gate.wait(30)
        raise BrokenPipeError(32, "Broken pipe")

    writer._write_all = gone  # type: ignore[method-assign]
    first = start_sending(writer, SuccessResponse(id=1, result="x" * 100))
    assert host.blocked.wait(30)
    waiting = start_sending(writer, *(SuccessResponse(id=i, result="y" * 100) for i in range(2, 6)))
    wait_for_waiters(writer, 4)
    host.gate.set()
    for t in first + waiting:
        t.join(30)
        assert not t.is_alive()
    assert disconnects == [1] and codec.encoded == 1 and writer.pending_bytes == 0


class Unaffordable:
    """A result msgspec cannot allocate the bytes for: encoding it raises MemoryError, as encode_into
    does when a large answer does not fit under the worker's memory cap."""


def _enc_hook_out_of_memory(value: Any) -> Any:
    if isinstance(value, Unaffordable):
        raise MemoryError()
    raise NotImplementedError


@ENCODINGS
def test_a_result_too_large_for_memory_is_answered_32008_and_the_writer_goes_on(encoding: str) -> None:
    writer, sink, _ = make_writer(encoding)
    codec = writer._codec
    codec._encoder = codec._module.Encoder(enc_hook=_enc_hook_out_of_memory)
    writer.send(SuccessResponse(id=1, result=Unaffordable()))
    writer.send(SuccessResponse(id=2, result="fine"))
    first, second = sink.messages()
    assert first["id"] == 1 and first["error"]["code"] == -32008
    assert "memory" in first["error"]["message"]
    assert second == {"jsonrpc": "2.0", "id": 2, "result": "fine"}


@ENCODINGS
def test_an_error_answer_always_fits_even_with_a_long_id_and_message(encoding: str) -> None:
    # The smallest frame limit the CLI takes; an id as long as an answer can still carry.
    writer, sink, _ = make_writer(encoding, limit=4096)
    long_id = "i" * 3600
    writer.send(ErrorResponse(id=long_id, error=ErrorObject(-32601, "m" * 1024)))
    writer.send(SuccessResponse(id=long_id, result="r" * 5000))
    assert all(size <= 4096 for size in sink.frame_sizes())
    refused, too_large = sink.messages()
    assert refused["id"] == long_id and refused["error"]["code"] == -32601
    assert too_large["id"] == long_id and too_large["error"]["code"] == -32002
