"""What the worker must answer to a frame, worked out from JSON-RPC 2.0 and protocol.md alone.

``expect(message)`` takes the frame as plain data (what an independent decoder makes of it) and
returns the answers it must get: nothing, one response, or one array of responses. Each answer is
an ``Answer(id, codes)``: the id the response must carry, and the error codes it may have (``None``
means "any outcome": a known method, whose result or error depends on its params and timing).

``match(expected, received)`` then checks that every request got exactly one response with the
right id (and code, where the oracle knows it), that batches came back as arrays, and that nothing
else was sent. A caller may allow a batch to be refused as a whole instead (one error with id null,
for a batch past the worker's bounds): ``match(..., refusable=...)``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

# Methods the fuzzers may call: answered quickly, never ending or freezing the worker.
KNOWN_METHODS = frozenset({"worker/ping", "worker/info", "test/echo"})

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601
# A batch past the bounds is refused whole with one -32600 and id null (protocol.md, "Batch").
BATCH_REFUSAL_CODES = frozenset({INVALID_REQUEST})


@dataclass(frozen=True)
class Answer:
    id: Any
    codes: frozenset[int | None] | None  # None: any outcome; {None} would mean "a result"


@dataclass(frozen=True)
class Batch:
    size: int  # elements, answered or not
    answers: list[Answer]  # empty: no array is sent (all notifications or responses)


@dataclass
class Expected:
    singles: list[Answer] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)

    def add(self, other: Expected) -> None:
        self.singles += other.singles
        self.batches += other.batches

    @property
    def count(self) -> int:
        """How many messages (responses or arrays) the worker must send."""
        return len(self.singles) + sum(1 for b in self.batches if b.answers)


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
        out.batches.append(Batch(len(message), answers))
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


class Unreadable(dict):
    """A MessagePack map that Python cannot hold (a key that is a map, an array or an extension), as
    read leniently: it is still a map, so params holding one are structured."""


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    try:
        return dict(pairs)
    except TypeError:
        return Unreadable()


def decode_independently(encoding: str, payload: bytes, *, lenient: bool = False) -> tuple[bool, Any]:
    """(True, value) if payload is a well-formed document for a decoder that is not the worker's.

    ``lenient``: MessagePack that is well-formed but not valid as data is read anyway, invalid UTF-8
    as lone surrogates and a map with unhashable keys as ``Unreadable`` (see ``_dirty``)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        if encoding == "json":
            return True, json.loads(payload.decode("utf-8"), parse_constant=refuse)
        # Extension types stand for themselves: the msgpack package refuses the reserved negative
        # type codes by default, which MessagePack itself allows. They are opaque values that cannot
        # be map keys (protocol.md §3): an unhashable stand-in makes such a frame undecodable here as
        # it is in the worker.
        if lenient:
            value = msgpack.unpackb(
                payload,
                raw=False,
                strict_map_key=False,
                ext_hook=OpaqueExt,
                unicode_errors="surrogateescape",
                object_pairs_hook=_pairs,
            )
        else:
            value = msgpack.unpackb(payload, raw=False, strict_map_key=False, ext_hook=OpaqueExt)
        return True, value
    except Exception:
        return False, None


# protocol.md's default --max-inflight, which also bounds a batch's elements.
DEFAULT_MAX_INFLIGHT = 256


def expect_payload(encoding: str, payload: bytes, *, max_batch: int = DEFAULT_MAX_INFLIGHT) -> Expected:
    """The answers to arbitrary bytes read as one frame."""
    ok, value = decode_independently(encoding, payload)
    if ok and not isinstance(value, (dict, list)):
        # A bare value: not a message (some, like 1e400 in JSON, the worker rejects as it decodes).
        return expect_error({INVALID_REQUEST, PARSE_ERROR})
    if ok:
        return expect(value)
    if _counts_as_a_large_batch(encoding, payload, max_batch):
        # protocol.md: a batch's elements are counted before any is decoded, so one that is too
        # large may be refused for that before it is found malformed.
        return expect_error({INVALID_REQUEST, PARSE_ERROR})
    if encoding == "msgpack":
        # protocol.md §3: a request's params are decoded once its method is found, so invalid UTF-8
        # or a key that is not a string only there is answered like any other bad params, with the
        # request's id (or not at all, for an unknown method or a notification).
        ok, value = decode_independently(encoding, payload, lenient=True)
        if ok and isinstance(value, dict) and _dirty(value.get("params")):
            if not all(isinstance(k, str) for k in value):
                # Not a message at all: the worker then decodes the whole frame to tell -32600
                # from -32700, and meets the bad params.
                return expect_error({INVALID_REQUEST, PARSE_ERROR})
            if not _dirty({k: v for k, v in value.items() if k != "params"}):
                if _repeats_a_key(payload):
                    # A repeated key makes the worker check the whole frame, params included, so
                    # it meets the invalid UTF-8 there (or refuses the message first, id null).
                    return expect_error({INVALID_REQUEST, PARSE_ERROR})
                return expect(value)
    return expect_error({PARSE_ERROR})


def _repeats_a_key(payload: bytes) -> bool:
    """Whether the MessagePack map ``payload`` holds some key twice at its top level."""
    try:
        pairs = msgpack.unpackb(
            payload, raw=True, strict_map_key=False, object_pairs_hook=list, ext_hook=OpaqueExt
        )
    except Exception:
        return False
    if not isinstance(pairs, list):
        return False
    keys = [k for k, _ in pairs if isinstance(k, (bytes, int))]
    return len(keys) != len(set(keys))


def _counts_as_a_large_batch(encoding: str, payload: bytes, limit: int) -> bool:
    if encoding == "msgpack":
        header = {0xDC: 2, 0xDD: 4}.get(payload[0]) if payload else None
        return header is not None and int.from_bytes(payload[1 : 1 + header], "big") > limit
    return payload.lstrip(b" \t\r\n").startswith(b"[") and payload.count(b",") >= limit


def _dirty(value: Any) -> bool:
    """Whether a leniently decoded value holds a string that was not valid UTF-8 or an Unreadable map."""
    if isinstance(value, Unreadable):
        return True
    if isinstance(value, str):
        return any("\udc80" <= c <= "\udcff" for c in value)
    if isinstance(value, dict):
        return any(_dirty(k) or _dirty(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_dirty(v) for v in value)
    return False


def _key(id_: Any) -> tuple[str, Any]:
    # 1, 1.0 and True are equal in Python; an id must come back with its type.
    return (type(id_).__name__, id_)


def _code(response: Any) -> int | None:
    error = response.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _match_answers(expected: list[Answer], received: list[Any], where: str) -> Counter:
    """Pairs each expected answer with a response; what is left over (a Counter of (id, code))."""
    pool: Counter = Counter()
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
    return +pool


def _never(batch: Batch) -> bool:
    return False


# protocol.md: a batch is refused whole when it holds more than --max-inflight elements, or when its
# response could not fit one frame even if every answer were a short error (at most 125 bytes plus
# its id). The oracle allows a refusal from a little below that floor, as it only estimates ids.
SHORT_ANSWER_BYTES = 100


def refusable_batch(max_frame_bytes: int, max_inflight: int) -> Callable[[Batch], bool]:
    """The batches a worker with these limits may refuse whole."""

    def refusable(b: Batch) -> bool:
        floor = sum(SHORT_ANSWER_BYTES + len(str(a.id).encode()) for a in b.answers)
        return b.size > max_inflight or floor > max_frame_bytes

    return refusable


def match(expected: Expected, received: list[Any], *, refusable: Callable[[Batch], bool] = _never) -> None:
    """Everything ``received`` (responses and arrays, no notifications) against ``expected``.

    A batch for which ``refusable`` is true may instead be answered by one error with id null and a
    code of BATCH_REFUSAL_CODES (and a batch that needs no array may get such an error too)."""
    arrays = [m for m in received if isinstance(m, list)]
    singles = [m for m in received if not isinstance(m, list)]
    answered = [b for b in expected.batches if b.answers]
    assert len(arrays) <= len(answered), f"{len(arrays)} arrays for {len(answered)} batches: {arrays}"
    assert all(arrays), "an empty array was sent"
    # Batches: each received array must be the answer to one expected batch.
    remaining = list(answered)
    for array in sorted(arrays, key=len):
        for i, batch in enumerate(remaining):
            if len(batch.answers) == len(array):
                try:
                    extra = _match_answers(batch.answers, array, "batch")
                except AssertionError:
                    continue
                if extra:
                    continue
                del remaining[i]
                break
        else:
            raise AssertionError(f"array {array!r} answers none of the batches {remaining}")
    # Batches without their array must have been refused whole, each with one error.
    for batch in remaining:
        assert refusable(batch), f"no array for a batch of {batch.size} ({len(arrays)} arrays): {batch}"
    refusal = Answer(None, BATCH_REFUSAL_CODES)
    extra = _match_answers(expected.singles + [refusal] * len(remaining), singles, "single responses")
    optional = sum(1 for b in expected.batches if not b.answers and refusable(b))
    refusals = sum(n for (id_, code), n in extra.items() if id_ == _key(None) and code in BATCH_REFUSAL_CODES)
    assert sum(extra.values()) == refusals <= optional, (
        f"single responses: responses nobody asked for: {dict(extra)} (expected {expected})"
    )
