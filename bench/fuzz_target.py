"""The fuzz target: the worker's framing, codec and dispatch in one process, and the promises they keep.

``Target(framing, encoding)`` is one Dispatcher and FrameWriter wired to in-memory transports, with
the inline methods and ``test/echo`` only (nothing that sleeps, loads or exits). ``one_input(data)``
reads ``data`` as the worker's input stream, as the reader thread does, and then checks:

- no exception leaves the read loop (only ``TruncatedStream``, which ends the stream);
- every frame written parses in the framing (read by tests/e2e/wire.py's independent reader), is
  within ``max_frame_bytes``, and holds a response, a batch of responses or a notification;
- every request gets exactly one response, as tests/property/oracle.py works out from an independent
  decoder's reading of each frame the framing produced;
- a ``worker/ping`` after the input is answered: appended to the stream when the input ends on a
  frame boundary (the framing must still be in step), on a fresh stream otherwise.

A broken promise raises ``Violation``. bench/fuzz.py drives this under atheris; the unit test
tests/unit/test_fuzz_harness.py calls ``one_input`` directly so that the target cannot rot.

The first byte of an input chooses how the rest is read: even, as raw stream bytes (the framing is
fuzzed too); odd, as payloads separated by 0xC1 (a byte neither UTF-8 nor MessagePack ever uses),
each wrapped in a correct frame, so that mutations reach the codec and dispatch without breaking the
framing first.
"""

from __future__ import annotations

import io
from typing import Any

from tests.e2e.wire import Wire
from tests.property.oracle import (
    KNOWN_METHODS,
    Expected,
    expect_error,
    expect_payload,
    match,
    refusable_batch,
)
from worker.config import Config
from worker.errors import FrameTooLarge, ParseError
from worker.handlers import core, testing
from worker.rpc.codec import Codec
from worker.rpc.framing import TruncatedStream, make_framing
from worker.runtime.dispatch import Dispatcher
from worker.runtime.registry import merge
from worker.runtime.state import WorkerState
from worker.runtime.writer import FrameWriter

PAYLOAD_SEPARATOR = b"\xc1"
PING_ID = "hfw-fuzz-ping"
PING_PARAMS = {"after": "fuzz"}
DEFAULT_MAX_FRAME_BYTES = 1 << 16
IDLE_TIMEOUT_SECONDS = 10.0
# Error messages quote untrusted strings only up to a bound (issue 9): this is a ceiling on any such
# bound, far above an honest message and far below the 10,000-byte names the seeds carry.
MAX_ERROR_TEXT = 2048


class Violation(AssertionError):
    """The worker broke one of its promises for this input. ``kind`` groups inputs by cause."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail[:4000]}")
        self.kind = kind


class Target:
    def __init__(
        self, framing: str, encoding: str, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    ) -> None:
        self.framing = framing
        self.encoding = encoding
        self.max_frame_bytes = max_frame_bytes
        self.wire = Wire("stdio", framing, encoding)
        self.config = Config(
            framing=framing,  # type: ignore[arg-type]
            encoding=encoding,  # type: ignore[arg-type]
            max_frame_bytes=max_frame_bytes,
            enable_test_methods=True,
        )
        all_methods = merge([core.handlers, testing.handlers])
        # The oracle's methods, and only those: each answers at once and none stops the worker.
        methods = {name: all_methods[name] for name in KNOWN_METHODS}
        self.codec = Codec(self.config.encoding)
        self.state = WorkerState(self.config)
        self.stops: list[tuple[str, int]] = []
        self.state.stop_requested = lambda reason, code: self.stops.append((reason, code))
        self.out = bytearray()
        self.writer = FrameWriter(
            codec=self.codec,
            framing=make_framing(framing, lambda n: b"", max_frame_bytes),
            write_all=self.out.extend,
            max_frame_bytes=max_frame_bytes,
            on_disconnect=lambda: self.stops.append(("disconnected", 0)),
        )
        self.dispatcher = Dispatcher(
            methods=methods, codec=self.codec, send=self.writer.send, config=self.config, state=self.state
        )
        self.state.dispatcher = self.dispatcher
        self.ping_payload = self.encode(
            {"jsonrpc": "2.0", "id": PING_ID, "method": "worker/ping", "params": PING_PARAMS}
        )
        self.ping_frame = self.wire.wrap(self.ping_payload)

    def close(self) -> None:
        self.dispatcher._executor.shutdown(wait=True)

    # ---- input ------------------------------------------------------------------------------

    def encode(self, value: Any) -> bytes:
        return self.wire.encode(value)

    def stream_of(self, data: bytes) -> bytes:
        """The byte stream an input stands for (see the module docstring)."""
        if not data:
            return b""
        if data[0] % 2 == 0:
            return data[1:]
        payloads = data[1:].split(PAYLOAD_SEPARATOR)
        if self.framing == "ndjson":
            return b"".join(p + b"\n" for p in payloads)
        return b"".join(self.wire.wrap(p) for p in payloads)

    def _ends_on_boundary(self, stream: bytes) -> bool:
        """Whether the framing, reading ``stream`` alone, ends on a frame boundary, so that a frame
        appended to it must be read as written."""
        if self.framing == "ndjson":
            return not stream or stream.endswith(b"\n")
        source = io.BytesIO(stream)
        framing = make_framing(self.framing, source.read, self.max_frame_bytes, source.readinto)
        while True:
            try:
                if framing.read_frame() is None:
                    return True
            except (FrameTooLarge, ParseError):
                continue
            except TruncatedStream:
                return False

    # ---- the read loop, as worker.runtime.lifecycle.Worker.read_loop runs it --------------------

    def _read(self, stream: bytes) -> list[bytes | int]:
        """Feed ``stream`` to the dispatcher; what the framing produced: payloads, and the codes of
        the frame errors it answered. Any exception but TruncatedStream escapes: in the real worker
        it would end the reader (exit 1) or cost a request its answer."""
        source = io.BytesIO(stream)
        framing = make_framing(self.framing, source.read, self.max_frame_bytes, source.readinto)
        outcomes: list[bytes | int] = []
        while True:
            try:
                payload = framing.read_frame()
            except (FrameTooLarge, ParseError) as exc:
                outcomes.append(exc.code)
                self.dispatcher.handle_frame_error(exc)
                continue
            except TruncatedStream:
                return outcomes
            if payload is None:
                return outcomes
            outcomes.append(bytes(payload))
            self.dispatcher.handle_frame(payload)

    # ---- one input --------------------------------------------------------------------------

    def one_input(self, data: bytes) -> None:
        self.run_stream(self.stream_of(data))

    def run_stream(
        self, stream: bytes, *, ping_in_stream: bool | None = None, oracle: bool = True
    ) -> list[Any]:
        """Feed ``stream`` and check every promise; the messages written (frames decoded).

        The ping goes at the end of the same stream when ``ping_in_stream`` is true, on a stream of
        its own when false, and by default wherever the framing says the input ended in step.
        ``oracle=False`` leaves out the check of one answer per request, for a caller that knows
        better what to expect."""
        self.out.clear()
        if ping_in_stream is None:
            ping_in_stream = self._ends_on_boundary(stream)
        if ping_in_stream:
            outcomes = self._read(stream + self.ping_frame)
        else:
            outcomes = self._read(stream)
            outcomes += self._read(self.ping_frame)
        if not self.dispatcher.wait_idle(IDLE_TIMEOUT_SECONDS):
            raise Violation("requests never answered", f"{self.dispatcher.inflight} still in flight")
        if self.stops:
            raise Violation("worker stopped", repr(self.stops))
        received = self._written()
        if not outcomes or outcomes[-1] != self.ping_payload:
            raise Violation("the framing lost step", f"the ping was not read last: {outcomes[-3:]!r}")
        if not any(_is_ping_answer(m) for m in received):
            raise Violation("the ping after the input was not answered", repr(received[-3:])[:500])
        if not oracle:
            return received
        # The ping is one more request for the oracle: answered exactly once, like the rest.
        expected = Expected()
        for outcome in outcomes:
            if isinstance(outcome, int):
                expected.add(expect_error({outcome}))
            else:
                expected.add(expect_payload(self.encoding, outcome, max_batch=self.config.max_inflight))
        responses = [m for m in received if not _is_notification(m)]
        try:
            match(
                expected, responses, refusable=refusable_batch(self.max_frame_bytes, self.config.max_inflight)
            )
        except AssertionError as exc:
            raise Violation("not exactly one answer per request", str(exc)) from None
        return received

    def _written(self) -> list[Any]:
        """Every message written, read back frame by frame with an independent reader."""
        out = io.BytesIO(bytes(self.out))
        messages = []
        while True:
            try:
                payload = self.wire.read_frame(out)
            except ValueError as exc:
                raise Violation("a frame written does not parse", str(exc)) from None
            if payload is None:
                return messages
            if len(payload) > self.max_frame_bytes:
                raise Violation(
                    "a frame written exceeds max_frame_bytes",
                    f"{len(payload)} bytes, limit {self.max_frame_bytes}: {payload[:200]!r}",
                )
            try:
                message = self.wire.decode(payload)
            except Exception as exc:
                raise Violation("a frame written does not decode", f"{exc}: {payload[:200]!r}") from None
            if not (_is_notification(message) or _is_response_or_batch(message)):
                raise Violation("a frame written is not a response", repr(message)[:500])
            for item in message if isinstance(message, list) else [message]:
                _check_error_text(item)
            messages.append(message)


def _check_error_text(response: dict[str, Any]) -> None:
    error = response.get("error")
    if not isinstance(error, dict):
        return
    data = error.get("data")
    texts = [error.get("message"), data.get("message") if isinstance(data, dict) else None]
    for text in texts:
        if isinstance(text, str) and len(text) > MAX_ERROR_TEXT:
            raise Violation("an error message is unbounded", f"{len(text)} characters: {text[:200]!r}")


def _is_notification(message: Any) -> bool:
    return isinstance(message, dict) and "method" in message and "id" not in message


def _is_response_or_batch(message: Any) -> bool:
    items = message if isinstance(message, list) else [message]
    return bool(items) and all(isinstance(m, dict) and "id" in m for m in items)


def _is_ping_answer(message: Any) -> bool:
    return isinstance(message, dict) and message.get("id") == PING_ID and message.get("result") == PING_PARAMS
