"""What the worker must answer to a frame, worked out from JSON-RPC 2.0 and protocol.md alone.

``expect(message)`` takes the frame as plain data (what an independent decoder makes of it) and
returns the answers it must get: nothing, one response, or one array of responses. Each answer is
an ``Answer(id, codes)``: the id the response must carry, and the error codes it may have (``None``
means "any outcome": a known method, whose result or error depends on its params and timing).

``match(expected, received)`` then checks that every request got exactly one response with the
right id (and code, where the oracle knows it), that batches came back as arrays, and that nothing
else was sent.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgpack

# Methods the fuzzers may call: answered quickly, never ending or freezing the worker.
KNOWN_METHODS = frozenset({"worker/ping", "worker/info", "test/echo"})

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601


@dataclass(frozen=True)
class Answer:
    id: Any
    codes: frozenset[int | None] | None  # None: any outcome; {None} would mean "a result"


@dataclass
class Expected:
    singles: list[Answer] = field(default_factory=list)
    batches: list[list[Answer]] = field(default_factory=list)

    def add(self, other: Expected) -> None:
        self.singles += other.singles
        self.batches += other.batches

    @property
    def count(self) -> int:
        """How many messages (responses or arrays) the worker must send."""
        return len(self.singles) + len(self.batches)


def _valid_id(value: Any) -> bool:
    # protocol.md §4: an id is an integer or a string (bool is not an integer here).
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _answer(message: Any) -> Answer | None:
    """The one answer a single (non-batch) message gets, or None for a notification or a response."""
    if not isinstance(message, dict) or not all(isinstance(k, str) for k in message):
        return Answer(None, frozenset({INVALID_REQUEST}))
    if "method" not in message and ("result" in message or "error" in message):
        return None  # a response sent to the worker: ignored
    has_id = "id" in message
    id_ = message.get("id")
    reply_id = id_ if _valid_id(id_) else None
    method = message.get("method")
    params = message.get("params", {})
    if (
        message.get("jsonrpc") != "2.0"
        or type(message.get("jsonrpc")) is not str
        or not isinstance(method, str)
        or (has_id and id_ is not None and not _valid_id(id_))
        or ("params" in message and not isinstance(params, (dict, list)))
    ):
        return Answer(reply_id, frozenset({INVALID_REQUEST}))
    if not has_id:
        return None  # a notification
    if id_ is None:
        return Answer(None, frozenset({INVALID_REQUEST}))
    if method not in KNOWN_METHODS:
        return Answer(id_, frozenset({METHOD_NOT_FOUND}))
    return Answer(id_, None)


def expect(message: Any) -> Expected:
    """The answers to one frame that decoded to ``message``."""
    out = Expected()
    if isinstance(message, list):
        if not message:
            out.singles.append(Answer(None, frozenset({INVALID_REQUEST})))
            return out
        answers = [a for a in (_answer(m) for m in message) if a is not None]
        if answers:
            out.batches.append(answers)
        return out
    answer = _answer(message)
    if answer is not None:
        out.singles.append(answer)
    return out


def expect_error(codes: set[int]) -> Expected:
    """One response with id null and one of ``codes`` (a frame that is not a message at all)."""
    return Expected(singles=[Answer(None, frozenset(codes))])


class OpaqueExt:
    """A MessagePack extension value as the oracle sees it: neither an object nor an array, unhashable."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, code: int, data: bytes) -> None:
        self.code, self.data = code, data


def decode_independently(encoding: str, payload: bytes) -> tuple[bool, Any]:
    """(True, value) if payload is a well-formed document for a decoder that is not the worker's."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        if encoding == "json":
            return True, json.loads(payload.decode("utf-8"), parse_constant=refuse)
        # Extension types stand for themselves: the msgpack package refuses the reserved negative
        # type codes by default, which MessagePack itself allows. They are opaque values that cannot
        # be map keys (protocol.md §3): an unhashable stand-in makes such a frame undecodable here as
        # it is in the worker.
        return True, msgpack.unpackb(payload, raw=False, strict_map_key=False, ext_hook=OpaqueExt)
    except Exception:
        return False, None


def expect_payload(encoding: str, payload: bytes) -> Expected:
    """The answers to arbitrary bytes read as one frame."""
    ok, value = decode_independently(encoding, payload)
    if not ok:
        return expect_error({PARSE_ERROR})
    if not isinstance(value, (dict, list)):
        # A bare value: not a message (some, like 1e400 in JSON, the worker rejects as it decodes).
        return expect_error({INVALID_REQUEST, PARSE_ERROR})
    return expect(value)


def _key(id_: Any) -> tuple[str, Any]:
    # 1, 1.0 and True are equal in Python; an id must come back with its type.
    return (type(id_).__name__, id_)


def _code(response: Any) -> int | None:
    error = response.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _match_answers(expected: list[Answer], received: list[Any], where: str) -> None:
    pool = Counter()
    for r in received:
        assert isinstance(r, dict) and "id" in r, f"{where}: not a response: {r!r}"
        assert ("result" in r) != ("error" in r), f"{where}: needs exactly one of result and error: {r!r}"
        assert r.get("jsonrpc") == "2.0", f"{where}: {r!r}"
        pool[(_key(r["id"]), _code(r))] += 1
    # The most particular answers choose first (one allowed code, then several), and "any outcome"
    # ones take whatever is left for their id, so that the greedy pairing never misses a match.
    for answer in sorted(expected, key=lambda a: (a.codes is None, len(a.codes or ()))):
        candidates = [k for k, n in pool.items() if n and k[0] == _key(answer.id)]
        if answer.codes is not None:
            candidates = [k for k in candidates if k[1] in answer.codes]
        assert candidates, f"{where}: no response for {answer} among {received!r}"
        pool[candidates[0]] -= 1
    extra = +pool
    assert not extra, f"{where}: responses nobody asked for: {dict(extra)} (expected {expected})"


def match(expected: Expected, received: list[Any]) -> None:
    """Everything ``received`` (responses and arrays, no notifications) against ``expected``."""
    arrays = [m for m in received if isinstance(m, list)]
    singles = [m for m in received if not isinstance(m, list)]
    assert len(arrays) == len(expected.batches), (
        f"{len(arrays)} arrays for {len(expected.batches)} batches: {arrays}"
    )
    assert all(arrays), "an empty array was sent"
    _match_answers(expected.singles, singles, "single responses")
    # Batches: each received array must be the answer to one expected batch.
    remaining = list(expected.batches)
    for array in sorted(arrays, key=len):
        for i, batch in enumerate(remaining):
            if len(batch) == len(array):
                try:
                    _match_answers(batch, array, "batch")
                except AssertionError:
                    continue
                del remaining[i]
                break
        else:
            raise AssertionError(f"array {array!r} answers none of the batches {remaining}")
