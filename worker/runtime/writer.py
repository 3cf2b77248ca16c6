"""The single way out: encode a message, enforce the frame limit, frame it, write it.

Thread-safe: responses come from handler threads and the reader thread, progress from handlers.
A result too large for ``--max-frame-bytes`` or impossible to encode is replaced by an error
response for the same id, so the client still gets exactly one answer and its reader stays safe.
A write that fails means the host is gone; the worker is told to stop, and nothing is raised into
the handler that happened to be writing.

Memory: encoded frames waiting to be written are bounded in bytes. A message is encoded only when
no other is being encoded and less than ``max_pending_bytes`` of encoded frames are still unwritten
(the frame being written counts until its last byte is out), so while the host does not read, the
worker holds at most ``max_pending_bytes`` plus one frame (at most ``--max-frame-bytes``). Everything
else waits unencoded, holding only what it already held: thirty ``tensor/get`` of one 100 MB tensor
are thirty references to one array, not 3 GB of encoded copies. Each waiting response holds its
handler thread, so once the pool is taken new work is refused with -32001 rather than piled up.
Encoding one message at a time costs no throughput (msgspec holds the GIL while it encodes), and
small answers such as ``worker/ping`` pass straight through unless that much output is already
waiting, in which case they would have waited for the write anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from worker.errors import FrameTooLarge, ResourceExhausted, WorkerError
from worker.rpc.codec import Codec
from worker.rpc.framing import Framing
from worker.rpc.messages import ErrorObject, ErrorResponse, Id, SuccessResponse

log = logging.getLogger("worker.writer")

LARGE_PAYLOAD = 1 << 20
# Encoded bytes that may wait for the host before a further message waits to be encoded.
DEFAULT_MAX_PENDING_BYTES = 16 << 20
# How long, after a stop's grace, answers still waiting for a host that does not read are kept.
FINAL_WRITES_SECONDS = 5.0
# While giving up is armed, how often a sender blocked behind a write looks at the clock.
_GIVE_UP_POLL_SECONDS = 0.25


class FrameWriter:
    def __init__(
        self,
        *,
        codec: Codec,
        framing: Framing,
        write_all: Callable[[bytes], None],
        max_frame_bytes: int,
        on_disconnect: Callable[[], None],
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ) -> None:
        self._codec = codec
        self._framing = framing
        self._write_all = write_all
        self._max = max_frame_bytes
        self._on_disconnect = on_disconnect
        self._lock = threading.Lock()
        self._broken = False
        self.frames_sent = 0
        # Guards _pending and _encoding: bytes encoded and not yet written, and whether a message
        # is being encoded now (its size is not known until it is done).
        self._room = threading.Condition(threading.Lock())
        self._max_pending = max_pending_bytes
        self._pending = 0
        self._encoding = False
        # Senders waiting in _wait_for_room: a send with nobody waiting skips notify_all, which costs
        # more than the rest of a small answer's bookkeeping.
        self._waiters = 0
        # Once the worker is stopping: the monotonic time after which messages still waiting for
        # room or for the write lock are dropped instead of waiting on a host that does not read.
        self._give_up_at: float | None = None
        self.dropped = 0

    def give_up_after(self, seconds: float) -> None:
        """Stop waiting for the host ``seconds`` from now: a message that would still wait for room
        or for a write then is dropped (and counted in ``dropped``). Only a stopping worker calls
        this; the earliest deadline set wins."""
        at = time.monotonic() + seconds
        with self._room:
            if self._give_up_at is None or at < self._give_up_at:
                self._give_up_at = at
            self._room.notify_all()

    def seconds_to_give_up(self) -> float | None:
        """Seconds until waiting messages are dropped (0 once they are); None if it is not set."""
        at = self._give_up_at
        return None if at is None else max(at - time.monotonic(), 0.0)

    def _given_up(self) -> bool:
        """True, counting a dropped message and logging the first, once the deadline has passed."""
        at = self._give_up_at
        if at is None or time.monotonic() < at:
            return False
        self.dropped += 1
        if self.dropped == 1:
            log.warning("the worker is stopping and the host does not read: unwritten answers are dropped")
        return True

    @property
    def pending_bytes(self) -> int:
        """Bytes encoded and not yet written."""
        with self._room:
            return self._pending

    def send(self, message: Any) -> None:
        if not self._wait_for_room():
            return
        payload: bytes | None = None
        try:
            payload = self._encode_bounded(message)
        finally:
            with self._room:
                self._encoding = False
                if payload is not None:
                    self._pending += len(payload)
                if self._waiters:
                    self._room.notify_all()
        if payload is None:
            return
        try:
            self._write(payload)
        finally:
            with self._room:
                self._pending -= len(payload)
                if self._waiters:
                    self._room.notify_all()

    def _wait_for_room(self) -> bool:
        """Wait until this thread may encode (see the module docstring); False once the host is gone."""
        with self._room:
            while not self._broken and (self._encoding or self._pending >= self._max_pending):
                if self._give_up_at is not None and self._given_up():
                    return False
                self._waiters += 1
                try:
                    if self._give_up_at is None:
                        self._room.wait()
                    else:
                        self._room.wait(max(self._give_up_at - time.monotonic(), 0.0))
                finally:
                    self._waiters -= 1
            if self._broken:
                return False
            self._encoding = True
            return True

    def _write(self, payload: bytes) -> None:
        # Small frames go out in one write; a large payload is written as it is, between its framing
        # bytes, rather than copied once more into a joined frame.
        parts = self._framing.wrap_parts(payload)
        frame = [b"".join(parts)] if len(payload) < LARGE_PAYLOAD else [p for p in parts if p]
        # A write blocked on a host that does not read holds the lock for as long as that lasts; once
        # the worker is stopping, the others stop waiting for it.
        # Polled, not one blocking acquire: a sender that began waiting before the stop must still
        # see the deadline it set.
        while not self._lock.acquire(timeout=_GIVE_UP_POLL_SECONDS):
            with self._room:
                if self._given_up():
                    return
        try:
            if self._broken:
                return
            try:
                for part in frame:
                    self._write_all(part)
                self.frames_sent += 1
            except OSError as exc:
                with self._room:
                    self._broken = True
                    self._room.notify_all()  # the waiting messages are dropped, not written
                log.warning("cannot write to the host (%s); stopping", exc)
                self._on_disconnect()
        finally:
            self._lock.release()

    def _encode_bounded(self, message: Any) -> bytes | None:
        if isinstance(message, list):
            parts = [self._encode_response(m) for m in message]
            joined = self._codec.join_array(parts)
            if len(joined) > self._max:
                joined = self._codec.join_array(self._shrink_batch(message, parts, len(joined)))
            return joined
        if isinstance(message, (SuccessResponse, ErrorResponse)):
            return self._encode_response(message)
        try:
            payload = self._codec.encode(message)
        except Exception as exc:  # see _encode_response
            log.error("dropped a notification that cannot be encoded: %s", exc)
            return None
        if len(payload) > self._max:
            log.error("dropped a %d-byte notification over the frame limit", len(payload))
            return None
        return payload

    def _encode_response(self, response: Any) -> bytes:
        """The encoded response if it fits the limit, else an encoded error response for its id."""
        try:
            payload = self._codec.encode(response)
        except MemoryError:
            # The answer did not fit in memory (under an address-space cap, say): the request still
            # gets its one answer, a small one, once the failed buffer is gone.
            if isinstance(response, SuccessResponse):
                message = "not enough memory to encode the result; retry when the worker holds less"
                return self._plain_error(response.id, ResourceExhausted.code, message)
            return self._plain_error(response.id, response.error.code, response.error.message)
        except Exception as exc:
            # Not only EncodeError: msgspec lets the enc_hook's NotImplementedError (unknown types),
            # OverflowError (ints beyond 64 bits in MessagePack) and UnicodeEncodeError (lone
            # surrogates) through. Whatever it is, the request must still get its one answer.
            if isinstance(response, SuccessResponse):
                message = f"the result cannot be encoded: {exc}"
                return self._plain_error(response.id, WorkerError.code, message)
            log.error("error data for id %r cannot be encoded (%s); sent without it", response.id, exc)
            return self._plain_error(response.id, response.error.code, response.error.message)
        if len(payload) <= self._max:
            return payload
        if isinstance(response, SuccessResponse):
            return self._plain_error(
                response.id,
                FrameTooLarge.code,
                f"the result needs a {len(payload)}-byte frame, over the limit of {self._max} bytes "
                "(--max-frame-bytes)",
            )
        return self._plain_error(response.id, response.error.code, response.error.message[:1000])

    def _plain_error(self, id: Any, code: int, message: str) -> bytes:
        """An error response without data, its message made encodable: the answer of last resort.
        Shortened further where even that would not fit the frame (a small --max-frame-bytes and a
        long message); the dispatcher refuses ids too long for a short error to fit (see
        ``id_fits``), so what this returns always fits."""
        safe = message.encode("utf-8", "replace").decode("utf-8")
        plain = self._codec.encode(ErrorResponse(id=id, error=ErrorObject(code, safe)))
        return plain if len(plain) <= self._max else short_error(self._codec, id, code, safe)

    def _shrink_batch(self, responses: list[Any], parts: list[bytes], joined_size: int) -> list[bytes]:
        """Each response of the batch fits on its own but not all in one frame: replace the largest
        with short errors for their ids (see ``short_error``) until the array fits."""
        parts = list(parts)
        size = joined_size
        for i in sorted(range(len(parts)), key=lambda i: len(parts[i]), reverse=True):
            if size <= self._max:
                break
            response = responses[i]
            if isinstance(response, SuccessResponse):
                code, message = (
                    FrameTooLarge.code,
                    f"the batch response exceeds the frame limit of {self._max} bytes",
                )
            else:
                code, message = response.error.code, response.error.message
            replacement = short_error(self._codec, response.id, code, message)
            if len(replacement) < len(parts[i]):
                size += len(replacement) - len(parts[i])
                parts[i] = replacement
        if size > self._max:
            # Not reached: the dispatcher refuses a batch whose floor (batch_floor_bytes) is over the limit.
            log.error("a batch response of %d bytes exceeds the frame limit even with short errors", size)
        return parts


# ---- batch responses ------------------------------------------------------------------------------
# A batch response over the frame limit has elements replaced, largest first, by a short error for the
# same id: -32002 for a result, the same code with its message cut for an error. No element so
# replaced is longer than its part of ``batch_floor_bytes``, and the dispatcher refuses a batch whose
# floor is over the limit before running any of it, so a batch response always fits its frame.

SHORT_MESSAGE_CHARS = 64
# The code that takes the most bytes: -32800 is the only one below -32768 (a MessagePack int32).
_WIDEST_CODE = -32800


def short_error(codec: Codec, id: Id, code: int, message: str) -> bytes:
    """An encoded error response with at most SHORT_MESSAGE_CHARS of message and no data."""
    # Printable ASCII without quotes or backslashes: nothing JSON would escape into more bytes.
    text = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in message[:SHORT_MESSAGE_CHARS])
    return codec.encode(ErrorResponse(id=id, error=ErrorObject(code, text)))


def id_fits(codec: Codec, id: Id, max_frame_bytes: int) -> bool:
    """Whether a short error for ``id`` fits a frame: the one thing every answer must do. A string
    id can be long, and so can a JSON integer (thousands of digits); the cheap bounds decide all but
    ids near the limit."""
    if isinstance(id, str):
        if 6 * len(id) + 256 <= max_frame_bytes:  # JSON escapes take at most 6 bytes a character
            return True
    elif id is None or -(1 << 63) <= id < (1 << 64):  # what MessagePack carries: at most 20 digits
        return True
    return len(short_error(codec, id, _WIDEST_CODE, "x" * SHORT_MESSAGE_CHARS)) <= max_frame_bytes


def batch_floor_bytes(codec: Codec, ids: list[Id]) -> int:
    """The size of the response to a batch with these ids when every element is a short error: the
    least the writer can make it."""
    widest = "x" * SHORT_MESSAGE_CHARS
    return len(codec.join_array([short_error(codec, id, _WIDEST_CODE, widest) for id in ids]))
