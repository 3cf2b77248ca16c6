"""worker.rpc.frame_head: the id of a dropped request, read from its frame's first bytes, or None."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from worker.rpc.frame_head import HEAD_BYTES, request_id


def msgpack(message: Any) -> bytes:
    return msgspec.msgpack.encode(message)


def as_json(message: Any) -> bytes:
    return json.dumps(message).encode()


ENCODERS = {"msgpack": msgpack, "json": as_json}
BIG = "x" * (HEAD_BYTES * 4)


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
@pytest.mark.parametrize("id", [7, 0, -3, 2**63 - 1, 2**64 - 1, "req-1", "", "é✓"])
def test_the_id_before_a_large_params_is_found(encoding: str, id: int | str) -> None:
    frame = ENCODERS[encoding]({"jsonrpc": "2.0", "id": id, "method": "tensor/put", "params": {"data": BIG}})
    assert request_id(frame[:HEAD_BYTES], encoding) == id


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "m", "params": {"id": 5, "data": BIG}, "id": 9},  # id after params
        {"jsonrpc": "2.0", "method": "m", "params": [BIG]},  # a notification
        [{"jsonrpc": "2.0", "id": 1, "method": "m"}, {"pad": BIG}],  # a batch
        {"jsonrpc": "2.0", "id": True, "method": "m", "params": {"pad": BIG}},  # not an id type
        {"jsonrpc": "2.0", "id": None, "method": "m", "params": {"pad": BIG}},
        {"jsonrpc": "2.0", "id": 1.5, "method": "m", "params": {"pad": BIG}},
        {"jsonrpc": "2.0", "id": [1], "method": "m", "params": {"pad": BIG}},
        {"jsonrpc": BIG, "id": 3},  # the id lies past the head
        "not a request",
    ],
    ids=["after-params", "notification", "batch", "bool", "null", "float", "array", "past-head", "string"],
)
def test_no_id_is_guessed_when_it_cannot_be_told(encoding: str, message: Any) -> None:
    frame = ENCODERS[encoding](message)
    assert request_id(frame[:HEAD_BYTES], encoding) is None


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_an_id_cut_by_the_end_of_the_head_is_not_taken(encoding: str) -> None:
    frame = ENCODERS[encoding]({"id": 123456789, "method": "m"})
    cut = frame.index(b"123456789"[:1]) + 4 if encoding == "json" else len(frame) - 12
    assert request_id(frame[:cut], encoding) is None


@pytest.mark.parametrize(
    "head", [b"", b"\xff", b"{", b'{"id"', b'{"id":', b"\x81\xa2id", b"\xde", b"\x81\xd9"]
)
@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_garbage_heads_give_none(head: bytes, encoding: str) -> None:
    assert request_id(head, encoding) is None


def test_a_json_id_with_a_lone_surrogate_is_not_taken() -> None:
    assert request_id(b'{"id":"\\ud800","method":"m","params":[' + b"1," * 3000, "json") is None
