"""JSON-RPC 2.0 messages as msgspec Structs.

Incoming messages are decoded leniently into ``Envelope`` (every member optional and untyped) so
that a malformed request can still be answered with its own ``id``; ``worker.rpc.codec`` then
classifies it into a ``Request`` or a ``Notification``. Params stay as ``msgspec.Raw`` until the
dispatcher knows the method, and are then decoded once, straight into that method's params Struct.

Outgoing messages are exact: a success response always carries ``result`` (even null), an error
response always carries ``error``, and neither carries the other.
"""

from __future__ import annotations

from typing import Any

import msgspec

JSONRPC = "2.0"

Id = int | str | None


class Envelope(msgspec.Struct, omit_defaults=True):
    """Any incoming message, before validation."""

    jsonrpc: Any = msgspec.UNSET
    method: Any = msgspec.UNSET
    id: Any = msgspec.UNSET
    params: msgspec.Raw = msgspec.Raw()
    result: Any = msgspec.UNSET
    error: Any = msgspec.UNSET


class Request(msgspec.Struct, frozen=True):
    """A validated call that expects exactly one response."""

    id: int | str
    method: str
    params: msgspec.Raw


class Notification(msgspec.Struct, frozen=True):
    """A validated call that gets no response."""

    method: str
    params: msgspec.Raw


class ErrorObject(msgspec.Struct, omit_defaults=True):
    code: int
    message: str
    data: Any = msgspec.UNSET


class SuccessResponse(msgspec.Struct, kw_only=True):
    jsonrpc: str = JSONRPC
    id: Id
    result: Any


class ErrorResponse(msgspec.Struct, kw_only=True):
    jsonrpc: str = JSONRPC
    id: Id
    error: ErrorObject


Response = SuccessResponse | ErrorResponse


class OutgoingNotification(msgspec.Struct, kw_only=True):
    jsonrpc: str = JSONRPC
    method: str
    params: Any


class Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every method's params: unknown members are an error, so a typo is never ignored.

    ``progressToken`` may be sent with any request; when present the handler's progress reports are
    sent as ``$/progress`` notifications carrying this token.
    """

    progress_token: int | str | None = msgspec.field(default=None, name="progressToken")


class CancelParams(msgspec.Struct):
    id: int | str


class ProgressParams(msgspec.Struct):
    token: int | str
    value: Any


class HandlerDoneParams(msgspec.Struct):
    """``worker/handlerDone``: the handler of a request answered -32800 while it still ran has returned."""

    id: int | str
    method: str
    seconds_after_answer: float
