"""The single way out: encode a message, enforce the frame limit, frame it, write it.

Thread-safe: responses come from handler threads and the reader thread, progress from handlers.
A result too large for ``--max-frame-bytes`` or impossible to encode is replaced by an error
response for the same id, so the client still gets exactly one answer and its reader stays safe.
A write that fails means the host is gone; the worker is told to stop, and nothing is raised into
the handler that happened to be writing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from worker.errors import FrameTooLarge, WorkerError
from worker.rpc.codec import Codec, error_response
from worker.rpc.framing import Framing
from worker.rpc.messages import SuccessResponse

log = logging.getLogger("worker.writer")


class FrameWriter:
    def __init__(
        self,
        *,
        codec: Codec,
        framing: Framing,
        write_all: Callable[[bytes], None],
        max_frame_bytes: int,
        on_disconnect: Callable[[], None],
    ) -> None:
        self._codec = codec
        self._framing = framing
        self._write_all = write_all
        self._max = max_frame_bytes
        self._on_disconnect = on_disconnect
        self._lock = threading.Lock()
        self._broken = False
        self.frames_sent = 0

    def send(self, message: Any) -> None:
        payload = self._encode_bounded(message)
        if payload is None:
            return
        frame = self._framing.wrap(payload)
        with self._lock:
            if self._broken:
                return
            try:
                self._write_all(frame)
                self.frames_sent += 1
            except OSError as exc:
                self._broken = True
                log.warning("cannot write to the host (%s); stopping", exc)
                self._on_disconnect()

    def _encode_bounded(self, message: Any) -> bytes | None:
        if isinstance(message, list):
            return self._codec.join_array([self._encode_response(m) for m in message])
        if isinstance(message, SuccessResponse):
            return self._encode_response(message)
        try:
            payload = self._codec.encode(message)
        except (msgspec.EncodeError, TypeError) as exc:
            log.error("dropped a notification that cannot be encoded: %s", exc)
            return None
        if len(payload) > self._max:
            log.error("dropped a %d-byte notification over the frame limit", len(payload))
            return None
        return payload

    def _encode_response(self, response: Any) -> bytes:
        """The encoded response if it fits the limit, else an encoded error response for its id."""
        if not isinstance(response, SuccessResponse):
            return self._codec.encode(response)
        try:
            payload = self._codec.encode(response)
        except (msgspec.EncodeError, TypeError) as exc:
            error = WorkerError(f"the result cannot be encoded: {exc}")
            return self._codec.encode(error_response(response.id, error))
        if len(payload) > self._max:
            too_large = FrameTooLarge(
                f"the result needs a {len(payload)}-byte frame, over the limit of {self._max} bytes "
                "(--max-frame-bytes)"
            )
            return self._codec.encode(error_response(response.id, too_large))
        return payload
