"""Codec: frame payloads to typed messages and back, in JSON or MessagePack.

One ``Codec`` per worker, built once at start with its encoder and decoders; per-method params
decoders are built once too and cached. Both encodings carry the same messages: a JSON object is a
MessagePack map with the same string keys, and a batch is an array of them. Binary values are
MessagePack ``bin`` in MessagePack and standard base64 strings in JSON (msgspec's rules for
``bytes``), so a params field declared ``bytes`` accepts either.

Malformed data is refused alike in both encodings: invalid UTF-8 anywhere in a JSON frame, or in a
MessagePack string the worker reads (every key and unknown member of a message, and whatever its
method's params decode), is -32700. Messages that quote what the client sent quote it shortened.
"""

from __future__ import annotations

import codecs
import re
from typing import Any, Literal, TypeVar

import msgspec

from worker.errors import InvalidParams, InvalidRequest, ParseError, RpcError, bounded, quote
from worker.rpc.messages import (
    JSONRPC,
    Envelope,
    ErrorObject,
    ErrorResponse,
    Id,
    Notification,
    Request,
)

T = TypeVar("T")
BytesLike = bytes | bytearray | memoryview

Incoming = Envelope | list[msgspec.Raw]


def _enc_hook(obj: Any) -> Any:
    """Values handlers commonly return that msgspec does not know: numpy and torch arrays and scalars."""
    tolist = getattr(obj, "tolist", None)
    if tolist is not None:  # numpy.ndarray, numpy scalars, torch.Tensor
        return tolist()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    raise NotImplementedError(f"cannot encode a value of type {type(obj).__name__}")


def _first_byte_json(raw: BytesLike) -> int | None:
    for b in raw:
        if b not in b" \t\r\n":
            return b
    return None


def _is_structured_json(raw: BytesLike) -> bool:
    return _first_byte_json(raw) in (ord("{"), ord("["))


def _is_structured_msgpack(raw: BytesLike) -> bool:
    if not raw:
        return False
    b = raw[0]
    return 0x80 <= b <= 0x9F or b in (0xDC, 0xDD, 0xDE, 0xDF)


class Codec:
    def __init__(self, encoding: Literal["json", "msgpack"]) -> None:
        self.encoding = encoding
        self._params_decoders: dict[type, Any] = {}
        if encoding == "json":
            self._module: Any = msgspec.json
            self._is_structured = _is_structured_json
        else:
            self._module = msgspec.msgpack
            self._is_structured = _is_structured_msgpack
        self._encoder = self._module.Encoder(enc_hook=_enc_hook)
        self._incoming = self._module.Decoder(Incoming)
        self._envelope = self._module.Decoder(Envelope)
        self._any = self._module.Decoder()
        self._members = self._module.Decoder(dict[str, msgspec.Raw])

    # ---- outgoing -------------------------------------------------------------------------

    def encode(self, message: Any) -> bytes:
        """The message's bytes. Raises MemoryError when they do not fit in memory.

        Encoded into a bytearray: msgspec's ``encode`` crashes the process (SIGSEGV) when growing its
        own output buffer fails, while ``encode_into`` raises MemoryError, which the writer answers
        -32008. It costs a few hundred nanoseconds a message."""
        buffer = bytearray()
        self._encoder.encode_into(message, buffer)
        return buffer  # type: ignore[return-value]  # a bytearray: every consumer takes any buffer

    def join_array(self, encoded: list[bytes]) -> bytes:
        """An array (a batch response) from already-encoded elements, without encoding them again."""
        if self.encoding == "json":
            return b"[" + b",".join(encoded) + b"]"
        n = len(encoded)
        if n < 16:
            header = bytes([0x90 | n])
        elif n < 1 << 16:
            header = b"\xdc" + n.to_bytes(2, "big")
        else:
            header = b"\xdd" + n.to_bytes(4, "big")
        return header + b"".join(encoded)

    # ---- incoming -------------------------------------------------------------------------

    def decode_frame(self, payload: bytes) -> Incoming:
        """A single message or a batch. Raises ParseError or InvalidRequest."""
        if self.encoding == "json" and not payload.isascii():
            # Params stay Raw, and msgspec does not check the UTF-8 of what it skips: without this a
            # frame with invalid UTF-8 in its params would be accepted (and worker/ping would echo it
            # back as invalid JSON). ASCII frames, the common case, skip the check.
            _check_utf8(payload)
        try:
            incoming = self._incoming.decode(payload)
            if self.encoding == "msgpack":
                if isinstance(incoming, list):
                    # A batch's elements were only skipped over, and MessagePack strings are not
                    # checked when skipped: check the whole batch now, so that a malformed one is one
                    # -32700 (as in JSON) rather than a mix of answers.
                    self._any.decode(payload)
                elif _known_members(incoming) != _msgpack_map_size(payload):
                    # Only a message with a member the Envelope does not know (or a repeated key)
                    # can hide invalid UTF-8 from msgspec: every known key matched a field by its
                    # bytes, and the fields' values were decoded. The common message pays nothing more.
                    self._check_members(payload)
            return incoming
        except msgspec.ValidationError as exc:
            # msgspec checks the type before it reaches trailing bytes (`0` followed by junk), so
            # tell "well-formed but not a message" (-32600) from "not well-formed" (-32700).
            try:
                self._any.decode(payload)
            except _MALFORMED as inner:
                raise ParseError(f"cannot decode {self.encoding}: {_describe(inner)}") from None
            raise InvalidRequest(f"a message must be an object or an array: {_quote_in(exc)}") from None
        except _MALFORMED as exc:
            raise ParseError(f"cannot decode {self.encoding}: {_describe(exc)}") from None

    def _check_members(self, payload: BytesLike) -> None:
        """A MessagePack message's keys, and the values of members the Envelope does not know, as
        strictly as JSON's: msgspec matches a key against the Struct's fields by its bytes and skips
        an unknown member unread, so invalid UTF-8 there would pass. Costs one shallow decode."""
        members = self._members.decode(payload)  # every key decoded: invalid UTF-8 raises
        unknown = [raw for name, raw in members.items() if name not in _ENVELOPE_MEMBERS]
        if len(members) != _msgpack_map_size(payload):
            self._any.decode(payload)  # a repeated key: the dict kept one value, check them all
        for raw in unknown:
            self._any.decode(raw)

    def decode_batch_item(self, raw: msgspec.Raw) -> Envelope | None:
        """A batch element, or None when it is not an object (answered Invalid Request).

        Raises ParseError for an element that is not well-formed (possible in MessagePack, whose
        strings are only checked when decoded)."""
        try:
            return self._envelope.decode(raw)
        except msgspec.ValidationError:
            return None
        except _MALFORMED as exc:
            raise ParseError(f"cannot decode batch element: {_describe(exc)}") from None

    def classify(self, env: Envelope) -> Request | Notification | ErrorResponse | None:
        """Validate an envelope against JSON-RPC 2.0.

        Returns the request or notification, an error response to send for an invalid request,
        or None for a response sent to us (the worker makes no calls, so those are ignored).
        """
        raw_id = env.id
        reply_id: Id = raw_id if isinstance(raw_id, (int, str)) and not isinstance(raw_id, bool) else None
        is_response = env.result is not msgspec.UNSET or env.error is not msgspec.UNSET
        if env.method is msgspec.UNSET and is_response:
            return None
        problem = None
        if env.jsonrpc != JSONRPC:
            problem = 'member "jsonrpc" must be exactly "2.0"'
        elif not isinstance(env.method, str):
            problem = 'member "method" must be a string'
        elif raw_id is not msgspec.UNSET and raw_id is not None and reply_id is None:
            problem = 'member "id" must be an integer or a string'
        elif len(env.params) and not self._is_structured(memoryview(env.params)):
            problem = 'member "params" must be an object or an array'
        if problem is not None:
            return error_response(reply_id, InvalidRequest(problem))
        if raw_id is msgspec.UNSET:
            return Notification(env.method, env.params)
        if raw_id is None:
            # Allowed by the spec but discouraged; null ids cannot be told apart for cancellation.
            return error_response(None, InvalidRequest('member "id" must not be null in a request'))
        return Request(reply_id, env.method, env.params)  # type: ignore[arg-type]

    def decode_params(self, raw: msgspec.Raw, params_type: type[T]) -> T:
        """Decode params into the method's Struct. Raises InvalidParams with msgspec's path."""
        decoder = self._params_decoders.get(params_type)
        if decoder is None:
            decoder = self._module.Decoder(params_type)
            self._params_decoders[params_type] = decoder
        # A view, not a copy: params can hold a 64 MB tensor.
        payload = memoryview(raw) if len(raw) else memoryview(self._empty_object)
        if not self._is_structured(payload):
            raise InvalidParams("params must be an object")
        if self._first_is_array(payload):
            raise InvalidParams("params must be given by name (an object), not by position (an array)")
        try:
            return decoder.decode(payload)
        except msgspec.ValidationError as exc:
            raise InvalidParams(f"invalid params: {_quote_in(exc)}") from None
        except _MALFORMED as exc:
            raise _params_malformed(exc) from None

    def check_well_formed(self, raw: msgspec.Raw) -> None:
        """For params passed through untouched (worker/ping): they were only skipped over while
        decoding the message, so check them now, or the response would carry bad data back."""
        if len(raw):
            try:
                self._any.decode(raw)
            except _MALFORMED as exc:
                raise _params_malformed(exc) from None

    def decode_any(self, raw: msgspec.Raw) -> Any:
        return self._any.decode(bytes(raw)) if len(raw) else None

    @property
    def _empty_object(self) -> bytes:
        return b"{}" if self.encoding == "json" else b"\x80"

    def _first_is_array(self, payload: BytesLike) -> bool:
        if self.encoding == "json":
            return _first_byte_json(payload) == ord("[")
        b = payload[0]
        return 0x90 <= b <= 0x9F or b in (0xDC, 0xDD)


# What msgspec raises for data that is not well-formed: besides DecodeError, invalid UTF-8 in a string
# escapes as UnicodeDecodeError and nesting deeper than the interpreter's recursion limit as
# RecursionError. Letting those through would end the reader thread, and the worker with it.
_MALFORMED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


_ENVELOPE_MEMBERS = frozenset(Envelope.__struct_fields__)

# msgspec's messages quote names in backticks, the client's too: "Object contains unknown field `k`".
_BACKTICKED = re.compile(r"`([^`]*)`")


def _quote_in(exc: msgspec.ValidationError) -> str:
    """msgspec's message with each quoted name shortened: an unknown member of 10 MB is named, not
    echoed, and the path at the end (``- at `$.x```) stays."""
    return _BACKTICKED.sub(lambda m: f"`{quote(m.group(1))}`", str(exc))


def _check_utf8(payload: BytesLike) -> None:
    """Raise ParseError unless payload is UTF-8, in slices, so that checking a 256 MB frame does
    not build a 256 MB (or, with one emoji, a 1 GB) str."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(payload)
    step = 1 << 20
    try:
        for start in range(0, len(view), step):
            decoder.decode(view[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        # exc.start counts from the slice that failed (give or take a character split between two).
        raise ParseError(f"cannot decode json: invalid UTF-8 near byte {start + exc.start}") from None


def _known_members(env: Envelope) -> int:
    """How many of the Envelope's members a decoded message had (params: a Raw value is never empty)."""
    unset = msgspec.UNSET
    return (
        (env.jsonrpc is not unset)
        + (env.method is not unset)
        + (env.id is not unset)
        + (env.result is not unset)
        + (env.error is not unset)
        + (len(env.params) > 0)
    )


def _msgpack_map_size(payload: BytesLike) -> int:
    """The entry count in a MessagePack map's header (the payload decoded as a map already)."""
    first = payload[0]
    if first == 0xDE:
        return int.from_bytes(payload[1:3], "big")
    if first == 0xDF:
        return int.from_bytes(payload[1:5], "big")
    return first & 0x0F


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 in a string ({exc.reason})"
    return str(exc)


def _params_malformed(exc: BaseException) -> RpcError:
    if isinstance(exc, RecursionError):
        return InvalidParams("invalid params: nested too deeply")
    return ParseError(f"params are not well-formed: {_describe(exc)}")


def error_response(id: Id, error: RpcError, *, data: Any = msgspec.UNSET) -> ErrorResponse:
    payload = bounded(error.data) if error.data is not None else data
    return ErrorResponse(id=id, error=ErrorObject(error.code, error.message, payload))
