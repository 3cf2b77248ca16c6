"""worker.rpc.codec: frames to JSON-RPC 2.0 messages and back, in JSON and MessagePack.

The specification's own examples (jsonrpc.org/specification, section 7) run through a real
Dispatcher in memory, with the spec's example methods registered; the rest checks the codec's
classification rules one by one, in both encodings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import msgspec
import pytest

from tests.unit.memory import MemoryWorker
from worker.errors import InvalidParams, InvalidRequest, ParseError, UnknownHandle
from worker.rpc.codec import Codec, error_response
from worker.rpc.messages import ErrorResponse, Notification, Params, Request, SuccessResponse
from worker.runtime.context import RequestContext
from worker.runtime.registry import Handlers

ENCODINGS = pytest.mark.parametrize("encoding", ["json", "msgpack"])

# ---- the specification's examples -------------------------------------------------------------

spec_methods = Handlers()
notified: list[tuple[str, Any]] = []


@spec_methods.method("subtract")
def subtract(params: msgspec.Raw, ctx: RequestContext) -> int:
    # Raw params: this method takes them by position or by name, as the spec's examples do.
    value = (
        msgspec.json.decode(params) if bytes(params)[:1] in (b"[", b"{") else msgspec.msgpack.decode(params)
    )
    if isinstance(value, list):
        return int(value[0] - value[1])
    return int(value["minuend"] - value["subtrahend"])


@spec_methods.method("sum")
def sum_(params: msgspec.Raw, ctx: RequestContext) -> int:
    value = msgspec.json.decode(params) if bytes(params)[:1] == b"[" else msgspec.msgpack.decode(params)
    return sum(value)


@spec_methods.method("get_data")
def get_data(params: msgspec.Raw, ctx: RequestContext) -> list[Any]:
    return ["hello", 5]


for _name in ("update", "notify_hello", "notify_sum"):

    def _record(params: msgspec.Raw, ctx: RequestContext, _name: str = _name) -> None:
        notified.append((_name, msgspec.json.decode(params) if len(params) else None))

    spec_methods.method(_name)(_record)


@pytest.fixture
def spec_worker() -> Iterator[MemoryWorker]:
    notified.clear()
    worker = MemoryWorker(spec_methods, encoding="json")
    yield worker
    worker.close()


def exchange(worker: MemoryWorker, frame: str) -> list[Any]:
    """Feed one JSON text frame exactly as written in the spec; everything sent back once idle."""
    before = len(worker.outbox.snapshot())
    worker.dispatcher.handle_frame(frame.encode())
    worker.wait_idle()
    worker.close()  # waits for notification handlers too
    return worker.outbox.snapshot()[before:]


def shape(message: Any) -> Any:
    """A response with error messages reduced to their codes (the spec's texts are examples)."""
    if isinstance(message, list):
        return sorted((shape(m) for m in message), key=lambda m: json.dumps(m, sort_keys=True))
    if "error" in message and isinstance(message["error"], dict):
        return {"jsonrpc": message["jsonrpc"], "id": message["id"], "error": message["error"]["code"]}
    return message


SPEC_EXAMPLES = [
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        [{"jsonrpc": "2.0", "result": 19, "id": 1}],
        id="positional-1",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        [{"jsonrpc": "2.0", "result": -19, "id": 2}],
        id="positional-2",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
        [{"jsonrpc": "2.0", "result": 19, "id": 3}],
        id="named-1",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
        [{"jsonrpc": "2.0", "result": 19, "id": 4}],
        id="named-2",
    ),
    pytest.param('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', [], id="notification"),
    pytest.param('{"jsonrpc": "2.0", "method": "foobar"}', [], id="notification-unknown-method"),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        [{"jsonrpc": "2.0", "error": -32601, "id": "1"}],
        id="method-not-found",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        [{"jsonrpc": "2.0", "error": -32700, "id": None}],
        id="invalid-json",
    ),
    pytest.param(
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        [{"jsonrpc": "2.0", "error": -32600, "id": None}],
        id="invalid-request-object",
    ),
    pytest.param(
        '[\n  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n'
        '  {"jsonrpc": "2.0", "method"\n]',
        [{"jsonrpc": "2.0", "error": -32700, "id": None}],
        id="batch-invalid-json",
    ),
    pytest.param("[]", [{"jsonrpc": "2.0", "error": -32600, "id": None}], id="empty-array"),
    pytest.param("[1]", [[{"jsonrpc": "2.0", "error": -32600, "id": None}]], id="invalid-batch-one"),
    pytest.param(
        "[1,2,3]", [[{"jsonrpc": "2.0", "error": -32600, "id": None}] * 3], id="invalid-batch-three"
    ),
    pytest.param(
        """[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""",
        [
            [
                {"jsonrpc": "2.0", "result": 7, "id": "1"},
                {"jsonrpc": "2.0", "result": 19, "id": "2"},
                {"jsonrpc": "2.0", "error": -32600, "id": None},
                {"jsonrpc": "2.0", "error": -32601, "id": "5"},
                {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
            ]
        ],
        id="batch",
    ),
    pytest.param(
        """[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
        ]""",
        [],
        id="batch-all-notifications",
    ),
]


@pytest.mark.parametrize(("frame", "expected"), SPEC_EXAMPLES)
def test_jsonrpc_specification_examples(spec_worker: MemoryWorker, frame: str, expected: list[Any]) -> None:
    sent = exchange(spec_worker, frame)
    assert [shape(m) for m in sent] == [shape(m) for m in expected]


def test_spec_notifications_run_but_are_never_answered(spec_worker: MemoryWorker) -> None:
    sent = exchange(
        spec_worker,
        '[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        '{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]',
    )
    assert sent == []
    assert sorted(notified) == [("notify_hello", [7]), ("notify_sum", [1, 2, 4])]


def test_error_responses_have_error_and_no_result(spec_worker: MemoryWorker) -> None:
    (response,) = exchange(spec_worker, '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}')
    assert set(response) == {"jsonrpc", "id", "error"}
    assert set(response["error"]) <= {"code", "message", "data"}
    assert isinstance(response["error"]["message"], str) and response["error"]["message"]


# ---- classification, one rule at a time, in both encodings -----------------------------------


def encode(encoding: str, message: Any) -> bytes:
    return json.dumps(message).encode() if encoding == "json" else msgpack.packb(message, use_bin_type=True)


def classify(encoding: str, message: Any) -> Any:
    codec = Codec(encoding)  # type: ignore[arg-type]
    decoded = codec.decode_frame(encode(encoding, message))
    assert not isinstance(decoded, list)
    return codec.classify(decoded)


@ENCODINGS
@pytest.mark.parametrize("id", [1, 0, -7, 2**63 - 1, "abc", "", "1"], ids=repr)
def test_a_request_keeps_its_id_exactly(encoding: str, id: Any) -> None:
    message = classify(encoding, {"jsonrpc": "2.0", "id": id, "method": "m", "params": {"a": 1}})
    assert isinstance(message, Request)
    assert message.id == id and type(message.id) is type(id)
    assert message.method == "m"


@ENCODINGS
def test_a_message_without_id_is_a_notification(encoding: str) -> None:
    message = classify(encoding, {"jsonrpc": "2.0", "method": "m"})
    assert isinstance(message, Notification) and message.method == "m"


@ENCODINGS
@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "result": 5},
        {"jsonrpc": "2.0", "id": 1, "result": None},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "x"}},
    ],
    ids=["result", "null-result", "error"],
)
def test_responses_sent_to_the_worker_are_ignored(encoding: str, message: Any) -> None:
    assert classify(encoding, message) is None


def invalid(encoding: str, message: Any) -> ErrorResponse:
    outcome = classify(encoding, message)
    assert isinstance(outcome, ErrorResponse), outcome
    assert outcome.error.code == InvalidRequest.code
    return outcome


@ENCODINGS
@pytest.mark.parametrize(
    "message",
    [
        {"id": 1, "method": "m"},
        {"jsonrpc": "1.0", "id": 1, "method": "m"},
        {"jsonrpc": 2.0, "id": 1, "method": "m"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": None},
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": "bar"},
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": 3},
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": None},
        {"jsonrpc": "2.0", "id": 1, "method": "m", "params": True},
    ],
    ids=[
        "no-jsonrpc",
        "jsonrpc-1.0",
        "jsonrpc-number",
        "no-method",
        "method-number",
        "method-null",
        "params-string",
        "params-number",
        "params-null",
        "params-bool",
    ],
)
def test_invalid_requests_are_answered_with_their_id(encoding: str, message: Any) -> None:
    assert invalid(encoding, message).id == 1


@ENCODINGS
@pytest.mark.parametrize(
    "bad_id", [True, False, 1.5, [1], {"a": 1}], ids=["true", "false", "fraction", "array", "object"]
)
def test_ids_that_are_not_integers_or_strings_are_invalid_and_answered_with_null(
    encoding: str, bad_id: Any
) -> None:
    # protocol.md §4: an id is an integer or a string. bool is not a number in JSON-RPC.
    refused = invalid(encoding, {"jsonrpc": "2.0", "id": bad_id, "method": "m"})
    assert refused.id is None
    assert "integer or a string" in refused.error.message


@ENCODINGS
def test_a_null_id_is_refused(encoding: str) -> None:
    # Allowed by the spec but discouraged; protocol.md refuses it: it cannot be matched or cancelled.
    assert invalid(encoding, {"jsonrpc": "2.0", "id": None, "method": "m"}).id is None


@ENCODINGS
def test_an_invalid_notification_is_still_answered_with_null(encoding: str) -> None:
    # Spec example "invalid Request object": no id, yet answered, because it is not a valid notification.
    assert invalid(encoding, {"jsonrpc": "2.0", "method": 1, "params": "bar"}).id is None


@ENCODINGS
@pytest.mark.parametrize("value", [42, "text", None, True, 1.5], ids=repr)
def test_a_frame_that_is_not_an_object_or_array_is_an_invalid_request(encoding: str, value: Any) -> None:
    with pytest.raises(InvalidRequest):
        Codec(encoding).decode_frame(encode(encoding, value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("encoding", "payload"),
    [
        ("json", b""),
        ("json", b"{"),
        ("json", b'{"jsonrpc": "2.0",}'),
        ("json", b"{} {}"),
        ("json", b"NaN"),
        ("json", b'{"jsonrpc":"2.0","id":1,"method":"m\xff"}'),
        ("json", b'{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":"\xc3"}}'),
        ("json", b"[" * 100_000 + b"]" * 100_000),
        ("msgpack", b""),
        ("msgpack", b"\xc1"),
        ("msgpack", b"\x81\xa1a"),
        ("msgpack", b"\x80\x80"),
        ("msgpack", b"\x81\xa6method\xa2m\xff"),
        ("msgpack", b"\x91" * 100_000 + b"\x90"),
    ],
    ids=[
        "json-empty",
        "json-cut",
        "json-trailing-comma",
        "json-two-values",
        "json-nan",
        "json-invalid-utf8-in-method",
        "json-invalid-utf8-in-params",
        "json-nested-100k-deep",
        "msgpack-empty",
        "msgpack-never-used-byte",
        "msgpack-cut",
        "msgpack-two-values",
        "msgpack-invalid-utf8",
        "msgpack-nested-100k-deep",
    ],
)
def test_undecodable_frames_are_parse_errors(encoding: str, payload: bytes) -> None:
    with pytest.raises(ParseError):
        Codec(encoding).decode_frame(payload)  # type: ignore[arg-type]


class AnyParams(Params):
    a: Any = None


# {"a": <a msgpack str holding the invalid UTF-8 bytes ff fe>}: MessagePack strings are checked only
# when decoded, so this passes the envelope and must fail cleanly at the params.
MSGPACK_BAD_UTF8_PARAMS = b"\x81\xa1a\xa2\xff\xfe"


def test_msgpack_params_with_invalid_utf8_are_a_parse_error_for_that_request() -> None:
    codec = Codec("msgpack")
    frame = b"\x84\xa7jsonrpc\xa32.0\xa2id\x01\xa6method\xa1m\xa6params" + MSGPACK_BAD_UTF8_PARAMS
    envelope = codec.decode_frame(frame)
    assert not isinstance(envelope, list)
    request = codec.classify(envelope)
    assert isinstance(request, Request) and request.id == 1
    with pytest.raises(ParseError):
        codec.decode_params(request.params, AnyParams)
    with pytest.raises(ParseError):
        codec.check_well_formed(request.params)


def test_a_msgpack_batch_with_a_malformed_element_is_one_parse_error() -> None:
    # As the spec's "batch, invalid JSON" example: the whole frame is -32700, not a mix of answers.
    codec = Codec("msgpack")
    with pytest.raises(ParseError):
        codec.decode_frame(b"\x92\x80\x81\xa6method\xa2\xff\xfe")  # [{}, {"method": <invalid UTF-8>}]
    with pytest.raises(ParseError):
        codec.decode_batch_item(msgspec.Raw(b"\x81\xa6method\xa2\xff\xfe"))


# A single request, {"jsonrpc": "2.0", "id": 1, "method": "m", ...}, with one more member after the
# three (the map header says four or five members).
MSGPACK_REQUEST_MEMBERS = b"\xa7jsonrpc\xa32.0\xa2id\x01\xa6method\xa1m"


@pytest.mark.parametrize(
    "frame",
    [
        b"\x84" + MSGPACK_REQUEST_MEMBERS + b"\xa2\xff\xfe\x01",  # a key of invalid UTF-8
        b"\x84" + MSGPACK_REQUEST_MEMBERS + b"\xa1x\xa2\xff\xfe",  # an unknown member's value
        b"\x84" + MSGPACK_REQUEST_MEMBERS + b"\xa1x\x91\x81\xa1k\xa2\xff\xfe",  # ...deep inside it
        b"\x85" + MSGPACK_REQUEST_MEMBERS + b"\xa1x\xa2\xff\xfe\xa1x\x01",  # hidden by a repeated key
        b"\xde\x00\x04" + MSGPACK_REQUEST_MEMBERS + b"\xa2\xff\xfe\x01",  # map 16
    ],
    ids=["key", "unknown-member", "nested-in-unknown-member", "repeated-key", "map16-key"],
)
def test_a_msgpack_message_with_invalid_utf8_anywhere_outside_params_is_a_parse_error(frame: bytes) -> None:
    # As in JSON, where the whole frame's UTF-8 is checked: msgspec skips unknown members unread.
    with pytest.raises(ParseError):
        Codec("msgpack").decode_frame(frame)


@ENCODINGS
def test_well_formed_unknown_members_of_a_message_are_ignored(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    message = {"jsonrpc": "2.0", "id": 1, "method": "m", "x": [1, {"é": "ü"}], "y": None}
    envelope = codec.decode_frame(encode(encoding, message))
    assert not isinstance(envelope, list) and isinstance(codec.classify(envelope), Request)


def test_a_json_frame_larger_than_a_check_slice_with_characters_across_slices_is_accepted() -> None:
    # UTF-8 is checked in 1 MiB slices; a 3-byte character straddles every slice boundary here.
    text = "€" * 800_000
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"t": text}}).encode()
    payload = payload.replace(b"\\u20ac", "€".encode())
    assert len(payload) > 2 << 20 and not payload.isascii()
    assert isinstance(Codec("json").decode_frame(payload), msgspec.Struct)


def test_invalid_utf8_far_into_a_large_json_frame_is_a_parse_error_naming_where() -> None:
    payload = b'{"jsonrpc":"2.0","id":1,"method":"m","params":{"t":"' + "é".encode() * (1 << 20) + b'\xff"}}'
    with pytest.raises(ParseError) as caught:
        Codec("json").decode_frame(payload)
    where = payload.index(b"\xff")
    assert f"byte {where}" in caught.value.message


@ENCODINGS
def test_an_unknown_params_member_of_a_megabyte_is_named_shortened_not_echoed(encoding: str) -> None:
    key = "k" * (1 << 20)
    with pytest.raises(InvalidParams) as caught:
        Codec(encoding).decode_params(msgspec.Raw(encode(encoding, {"x": 1, key: 2})), Point)  # type: ignore[arg-type]
    message = caught.value.message
    assert message.startswith("invalid params: Object contains unknown field `kkk")
    assert str(1 << 20) in message  # says how long the name was
    assert len(message) < 300 and str(caught.value) == message


@ENCODINGS
def test_a_wrong_type_deep_under_a_long_key_keeps_its_path_and_stays_short(encoding: str) -> None:
    class Nested(Params):
        inner: dict[str, int]

    with pytest.raises(InvalidParams) as caught:
        Codec(encoding).decode_params(  # type: ignore[arg-type]
            msgspec.Raw(encode(encoding, {"inner": {"q" * 100_000: "not an int"}})), Nested
        )
    assert caught.value.message.endswith("- at `$.inner[...]`")
    assert len(caught.value.message) < 300


def test_error_data_strings_are_shortened_at_any_depth() -> None:
    error = UnknownHandle(
        "no such handle", data={"handle": "h" * 100_000, "more": [{"x": "y" * 5000}], "n": 3}
    )
    response = error_response(1, error)
    data = response.error.data
    assert len(data["handle"]) <= 1024 and len(data["more"][0]["x"]) <= 1024 and data["n"] == 3


@pytest.mark.parametrize(
    ("encoding", "payload"), [("json", b"0\x00"), ("msgpack", b"\x00\x00"), ("json", b"42 x")]
)
def test_a_value_followed_by_junk_is_a_parse_error_not_an_invalid_request(
    encoding: str, payload: bytes
) -> None:
    with pytest.raises(ParseError):
        Codec(encoding).decode_frame(payload)  # type: ignore[arg-type]


@ENCODINGS
def test_well_formed_raw_params_pass_the_check(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    codec.check_well_formed(msgspec.Raw(encode(encoding, {"a": [1, "é", None]})))
    codec.check_well_formed(msgspec.Raw())


# ---- batches --------------------------------------------------------------------------------


@ENCODINGS
def test_a_batch_is_decoded_into_its_elements(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    items = codec.decode_frame(encode(encoding, [{"jsonrpc": "2.0", "id": 1, "method": "a"}, 7, "x"]))
    assert isinstance(items, list) and len(items) == 3
    first = codec.decode_batch_item(items[0])
    assert first is not None and isinstance(codec.classify(first), Request)
    assert codec.decode_batch_item(items[1]) is None
    assert codec.decode_batch_item(items[2]) is None


# ---- params ---------------------------------------------------------------------------------


class Point(Params):
    x: int
    y: int = 0


@ENCODINGS
def test_params_decode_into_the_method_struct(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    raw = msgspec.Raw(encode(encoding, {"x": 1, "y": 2, "progressToken": "t"}))
    point = codec.decode_params(raw, Point)
    assert (point.x, point.y, point.progress_token) == (1, 2, "t")


@ENCODINGS
def test_by_position_params_are_refused_with_invalid_params(encoding: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        Codec(encoding).decode_params(msgspec.Raw(encode(encoding, [1, 2])), Point)  # type: ignore[arg-type]
    assert caught.value.code == -32602
    assert "by name" in caught.value.message


@ENCODINGS
@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"x": 1, "z": 3}, "z"),
        ({"x": "one"}, "$.x"),
        ({}, "x"),
        ({"x": 1, "progressToken": 1.5}, "progressToken"),
    ],
    ids=["unknown-member", "wrong-type", "missing", "bad-token"],
)
def test_bad_params_name_the_problem(encoding: str, params: Any, needle: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        Codec(encoding).decode_params(msgspec.Raw(encode(encoding, params)), Point)  # type: ignore[arg-type]
    assert needle in caught.value.message


@ENCODINGS
def test_omitted_params_are_an_empty_object(encoding: str) -> None:
    class Optional(Params):
        a: int = 5

    assert Codec(encoding).decode_params(msgspec.Raw(), Optional).a == 5  # type: ignore[arg-type]
    with pytest.raises(InvalidParams):
        Codec(encoding).decode_params(msgspec.Raw(), Point)  # type: ignore[arg-type]


def test_binary_params_are_bin_in_msgpack_and_base64_in_json() -> None:
    class Blob(Params):
        data: bytes

    blob = bytes(range(256))
    mp = Codec("msgpack").decode_params(msgspec.Raw(msgpack.packb({"data": blob}, use_bin_type=True)), Blob)
    js = Codec("json").decode_params(
        msgspec.Raw(b'{"data": "' + __import__("base64").b64encode(blob) + b'"}'), Blob
    )
    assert mp.data == js.data == blob


# ---- outgoing -------------------------------------------------------------------------------


def plain(encoding: str, payload: bytes) -> Any:
    return json.loads(payload) if encoding == "json" else msgpack.unpackb(payload, raw=False)


@ENCODINGS
@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536, 70000])
def test_join_array_builds_a_valid_array_of_encoded_elements(encoding: str, count: int) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    elements = [SuccessResponse(id=i, result={"i": i}) for i in range(count)]
    joined = codec.join_array([codec.encode(e) for e in elements])
    decoded = plain(encoding, joined)
    assert decoded == [{"jsonrpc": "2.0", "id": i, "result": {"i": i}} for i in range(count)]


@ENCODINGS
def test_success_response_always_carries_result_even_null(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    assert plain(encoding, codec.encode(SuccessResponse(id="a", result=None))) == {
        "jsonrpc": "2.0",
        "id": "a",
        "result": None,
    }


@ENCODINGS
def test_error_response_carries_code_message_and_data_only_when_given(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    bare = plain(encoding, codec.encode(error_response(7, InvalidRequest("nope"))))
    assert bare == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32600, "message": "nope"}}
    with_data = plain(
        encoding, codec.encode(error_response(None, UnknownHandle("gone", data={"handle": "h1"})))
    )
    assert with_data["error"] == {"code": -32004, "message": "gone", "data": {"handle": "h1"}}
    assert with_data["id"] is None


def test_binary_results_are_bin_in_msgpack_and_base64_in_json() -> None:
    blob = b"\x00\x01\x02\x03"
    assert msgpack.unpackb(Codec("msgpack").encode({"data": blob})) == {"data": blob}
    assert json.loads(Codec("json").encode({"data": blob})) == {"data": "AAECAw=="}


class FakeArray:
    """Stands in for numpy and torch values: anything with tolist()."""

    def tolist(self) -> list[float]:
        return [1.0, 2.5]


@ENCODINGS
def test_array_like_results_and_paths_are_converted(encoding: str) -> None:
    codec = Codec(encoding)  # type: ignore[arg-type]
    decoded = plain(encoding, codec.encode({"v": FakeArray(), "p": Path("/tmp/x")}))
    assert decoded == {"v": [1.0, 2.5], "p": "/tmp/x"}


@ENCODINGS
def test_unknown_result_types_fail_to_encode(encoding: str) -> None:
    with pytest.raises(Exception) as caught:
        Codec(encoding).encode({"v": object()})  # type: ignore[arg-type]
    assert "object" in str(caught.value)


def test_floats_survive_both_encodings() -> None:
    for encoding in ("json", "msgpack"):
        codec = Codec(encoding)  # type: ignore[arg-type]
        assert plain(encoding, codec.encode({"f": math.pi}))["f"] == math.pi
