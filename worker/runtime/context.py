"""The context handed to every handler: its cancellation flag and its progress channel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from worker.errors import RequestCancelled

if TYPE_CHECKING:
    from worker.runtime.state import WorkerState


class RequestContext:
    def __init__(
        self,
        *,
        id: int | str | None,
        method: str,
        state: WorkerState,
        progress_token: int | str | None = None,
        send_progress: Callable[[int | str, Any], bool] | None = None,
    ) -> None:
        self.id = id
        self.method = method
        self.state = state
        self.progress_token = progress_token
        self._send_progress = send_progress
        self._after_response: list[Callable[[], None]] = []
        self._after_lock = threading.Lock()
        self._responded = False

    @property
    def cancel_event(self) -> threading.Event:
        # Made on first use: an Event costs about a third of an inline worker/ping, and most
        # contexts are never cancelled nor waited on. dict.setdefault is atomic, so threads racing
        # on the first use (the reader cancelling, the handler waiting) share one Event.
        event: threading.Event | None = self.__dict__.get("_cancel_event")
        if event is None:
            event = self.__dict__.setdefault("_cancel_event", threading.Event())
        return event

    @property
    def cancelled(self) -> bool:
        event: threading.Event | None = self.__dict__.get("_cancel_event")
        return event is not None and event.is_set()

    def check_cancelled(self) -> None:
        """Raise RequestCancelled if the client cancelled this request. Call it between steps."""
        if self.cancelled:
            raise RequestCancelled()

    @property
    def wants_progress(self) -> bool:
        return self.progress_token is not None and self._send_progress is not None

    def progress(self, value: Any) -> None:
        """Send ``$/progress {token, value}`` if the client asked for progress; otherwise do nothing.

        Never sent after the request's response, so a client can stop listening once answered.
        """
        if self.progress_token is not None and self._send_progress is not None:
            self._send_progress(self.progress_token, value)

    def after_response(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once this request's response has been written (used by worker/shutdown).

        If it already has been, because the request was cancelled and answered -32800 while the
        handler went on, ``fn`` runs at once: a cancelled worker/shutdown must still stop the worker.
        """
        with self._after_lock:
            if not self._responded:
                self._after_response.append(fn)
                return
        fn()

    def run_after_response(self) -> None:
        with self._after_lock:
            self._responded = True
            callbacks, self._after_response = self._after_response, []
        for fn in callbacks:
            fn()
