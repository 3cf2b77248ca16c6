"""worker.runtime.lifecycle: the reading loop and the parent watch, over an in-memory transport.
(Signals, exit codes and real processes are in tests/e2e/test_lifecycle.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from worker.config import Config
from worker.runtime import lifecycle
from worker.runtime.lifecycle import Worker
from worker.transport import Transport


class MemoryTransport:
    def __init__(self, incoming: bytes, *, fail_read: bool = False) -> None:
        self._incoming = incoming
        self._fail_read = fail_read
        self.out = bytearray()

    def read(self, n: int) -> bytes:
        if not self._incoming and self._fail_read:
            raise ConnectionResetError(104, "Connection reset by peer")
        chunk, self._incoming = self._incoming[:n], self._incoming[n:]
        return chunk

    def transport(self) -> Transport:
        return Transport("memory", self.read, self.out.extend, lambda: None)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in bytes(self.out).splitlines()]


@pytest.fixture
def made() -> Iterator[list[Worker]]:
    workers: list[Worker] = []
    yield workers
    for w in workers:
        w.dispatcher.wait_idle(5)
        w.dispatcher._executor.shutdown(wait=True)


def serve(made: list[Worker], incoming: bytes, **kwargs: bool) -> tuple[Worker, MemoryTransport]:
    memory = MemoryTransport(incoming, **kwargs)
    worker = Worker(Config(framing="ndjson", encoding="json"), memory.transport())
    made.append(worker)
    worker.read_loop()  # returns once input ends
    worker.dispatcher.wait_idle(5)
    return worker, memory


def line(message: dict[str, object]) -> bytes:
    return json.dumps(message).encode() + b"\n"


PING = line({"jsonrpc": "2.0", "id": 1, "method": "worker/ping", "params": {"n": 1}})


def test_reads_until_end_of_input_and_stops_for_eof(made: list[Worker]) -> None:
    worker, memory = serve(made, PING)
    assert memory.lines() == [{"jsonrpc": "2.0", "id": 1, "result": {"n": 1}}]
    assert worker._stop_reason == "eof" and worker._exit_code == 0


def test_input_ending_inside_a_frame_is_end_of_input(made: list[Worker]) -> None:
    memory = MemoryTransport(b"")
    worker = Worker(Config(framing="length", encoding="json"), memory.transport())
    made.append(worker)
    memory._incoming = b"\x00\x00\x00\x10{}"
    worker.read_loop()
    assert worker._stop_reason == "eof" and worker._exit_code == 0


def test_a_read_error_is_end_of_input(made: list[Worker]) -> None:
    worker, memory = serve(made, PING, fail_read=True)
    assert memory.lines()[0]["id"] == 1
    assert worker._stop_reason == "eof"


def test_bad_frames_are_answered_and_reading_goes_on(made: list[Worker]) -> None:
    worker, memory = serve(made, b"{not json\n" + PING)
    first, second = memory.lines()
    assert first["id"] is None and first["error"]["code"] == -32700  # type: ignore[index]
    assert second == {"jsonrpc": "2.0", "id": 1, "result": {"n": 1}}
    assert worker._stop_reason == "eof"


def test_an_unexpected_error_while_handling_a_frame_is_answered_32603_and_reading_goes_on(
    made: list[Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = MemoryTransport(line({"jsonrpc": "2.0", "id": "bug", "method": "worker/ping"}) + PING)
    worker = Worker(Config(framing="ndjson", encoding="json"), memory.transport())
    made.append(worker)
    real = worker.dispatcher.handle_frame

    def buggy(payload: bytes) -> None:
        if b'"bug"' in payload:
            raise AssertionError("a bug in the dispatcher")
        real(payload)

    monkeypatch.setattr(worker.dispatcher, "handle_frame", buggy)
    worker.read_loop()
    first, second = memory.lines()
    assert first["id"] is None and first["error"]["code"] == -32603  # type: ignore[index]
    assert second["id"] == 1
    assert worker._stop_reason == "eof" and worker._exit_code == 0


def test_the_ready_notification_describes_the_worker(made: list[Worker]) -> None:
    memory = MemoryTransport(b"")
    worker = Worker(Config(framing="ndjson", encoding="json", max_inflight=7), memory.transport())
    made.append(worker)
    worker.send_ready()
    (ready,) = memory.lines()
    assert ready["method"] == "worker/ready" and "id" not in ready
    params = ready["params"]
    assert isinstance(params, dict)
    assert params["pid"] == os.getpid() and params["max_inflight"] == 7 and params["protocol"] == 1
    assert "worker/ping" in params["methods"] and "test/sleep" not in params["methods"]


def test_process_exists_for_a_live_process_and_not_for_a_dead_or_zombie_one() -> None:
    assert lifecycle._process_exists(os.getpid())
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert lifecycle._process_exists(child.pid)
        child.kill()
        deadline = time.monotonic() + 5
        while lifecycle._process_exists(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        # Dead but not reaped yet: a zombie, which must count as gone.
        assert lifecycle._is_zombie(child.pid)
        assert not lifecycle._process_exists(child.pid)
    finally:
        child.wait()
    assert not lifecycle._process_exists(child.pid)


def test_a_frame_that_runs_out_of_memory_is_answered_32008_and_reading_goes_on(
    made: list[Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory running out while a frame arrives (the framing raises FrameOutOfMemory) or while it is
    # decoded (MemoryError from the dispatcher) costs that frame, never the reader or the worker.
    big = line({"jsonrpc": "2.0", "id": "big", "method": "worker/ping", "params": {"pad": "x" * 200_000}})
    decoded = line({"jsonrpc": "2.0", "id": "decode", "method": "worker/ping"})
    memory = MemoryTransport(big + decoded + PING)
    calls = 0

    def read(n: int) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 2:  # in the middle of the big line
            raise MemoryError
        return memory.read(n)

    worker = Worker(
        Config(framing="ndjson", encoding="json"), Transport("memory", read, memory.out.extend, lambda: None)
    )
    made.append(worker)
    real = worker.dispatcher.handle_frame

    def decode_fails(payload: bytes) -> None:
        if b'"decode"' in payload:
            raise MemoryError
        real(payload)

    monkeypatch.setattr(worker.dispatcher, "handle_frame", decode_fails)
    worker.read_loop()
    worker.dispatcher.wait_idle(5)
    lost_line, lost_decode, ping = memory.lines()
    # Its id is read from the line's first bytes: the request gets its own answer.
    assert lost_line["id"] == "big" and lost_line["error"]["code"] == -32008  # type: ignore[index]
    assert "out of memory while receiving a line" in lost_line["error"]["message"]  # type: ignore[index]
    assert lost_decode["id"] is None and lost_decode["error"]["code"] == -32008  # type: ignore[index]
    assert ping == {"jsonrpc": "2.0", "id": 1, "result": {"n": 1}}
    assert worker._stop_reason == "eof" and worker._exit_code == 0
