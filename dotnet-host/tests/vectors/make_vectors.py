"""Codec vectors for the C# host, written by the worker's own encoder.

Encodes a set of JSON-RPC messages (and the values they carry) with ``worker.rpc.codec.Codec("msgpack")``
and writes them as JSON: for each vector its name, its kind, the MessagePack bytes in hex and the decoded
value in a tagged JSON form (``{"$bytes": hex}`` for binary, ``{"$float": "nan"|"inf"|"-inf"}`` for
floats JSON cannot hold). The C# tests check that the host decodes each vector to that value and encodes
the value back to the same bytes. Run by the C# test suite itself: ``python make_vectors.py OUT.json``.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import msgspec

from worker.errors import InvalidParams, MethodNotFound, RequestCancelled, UnknownHandle
from worker.rpc.codec import Codec, error_response
from worker.rpc.messages import (
    ErrorObject,
    ErrorResponse,
    OutgoingNotification,
    ProgressParams,
    SuccessResponse,
)
from worker.runtime.ready import ReadyParams

CODEC = Codec("msgpack")


def tagged(value: Any) -> Any:
    """The decoded value in JSON, with bytes and non-finite floats tagged."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    return value


def boundary_values() -> list[tuple[str, Any]]:
    ints = [
        0,
        1,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2**31 - 1,
        2**31,
        2**32 - 1,
        2**32,
        2**63 - 1,
        2**64 - 1,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -(2**31),
        -(2**31) - 1,
        -(2**63),
    ]
    floats = [
        0.0,
        -0.0,
        1.0,
        1.5,
        -2.25,
        0.1,
        1e300,
        -1e-300,
        5e-324,
        float("nan"),
        float("inf"),
        float("-inf"),
    ]
    values: list[tuple[str, Any]] = [("nil", None), ("false", False), ("true", True)]
    values += [(f"int {i}", i) for i in ints]
    values += [(f"float {f!r}", f) for f in floats]
    for n in (0, 1, 31, 32, 255, 256, 65535, 65536):
        values.append((f"ascii string of {n} bytes", "a" * n))
    values += [
        ("utf-8 string", "héllo wörld"),
        ("cjk string", "漢字ひらがな"),
        ("emoji string", "🤗 hugging face"),
        ("string of 40 two-byte characters", "é" * 40),
    ]
    for n in (0, 1, 255, 256, 65535, 65536):
        values.append((f"binary of {n} bytes", bytes(i % 256 for i in range(n))))
    for n in (0, 1, 15, 16, 65535, 65536):
        values.append((f"array of {n} elements", list(range(n % 100)) * (n // 100) + list(range(n % 100))))
    for n in (0, 1, 15, 16, 65536):
        values.append((f"map of {n} entries", {f"k{i}": i for i in range(n)}))
    values.append(("nested", {"a": [1, {"b": [None, True, 2.5, "x", b"\x00\xff"]}], "c": {"d": {"e": []}}}))
    return values


def main(path: str) -> None:
    vectors: list[dict[str, Any]] = []

    def add(name: str, kind: str, encoded: bytes) -> None:
        vectors.append(
            {
                "name": name,
                "kind": kind,
                "msgpack": encoded.hex(),
                "value": tagged(msgspec.msgpack.decode(encoded)),
            }
        )

    for name, value in boundary_values():
        encoded = CODEC.encode(value)
        add(name, "value", encoded)
        if len(encoded) < 1024:  # large values once are enough
            add(
                f"response with result: {name}", "response", CODEC.encode(SuccessResponse(id=7, result=value))
            )

    # Requests as a host writes them: members in the order jsonrpc, id, method, params; progressToken last.
    requests = [
        ("ping without params", {"jsonrpc": "2.0", "id": 1, "method": "worker/ping"}),
        ("ping with params", {"jsonrpc": "2.0", "id": 2, "method": "worker/ping", "params": {"hi": 1}}),
        (
            "sleep with progress token",
            {
                "jsonrpc": "2.0",
                "id": 300,
                "method": "test/sleep",
                "params": {"seconds": 0.5, "progressToken": 300},
            },
        ),
        (
            "tensor/put with bytes",
            {
                "jsonrpc": "2.0",
                "id": 70000,
                "method": "tensor/put",
                "params": {"data": bytes(range(16)), "dtype": "float32", "shape": [2, 2]},
            },
        ),
        (
            "model/run with texts",
            {
                "jsonrpc": "2.0",
                "id": 2**40,
                "method": "model/run",
                "params": {"handle": "m1", "inputs": ["a sentence", "zwei Sätze"]},
            },
        ),
    ]
    for name, message in requests:
        add(f"request: {name}", "request", CODEC.encode(message))
    add(
        "notification: cancel",
        "notification",
        CODEC.encode({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 5}}),
    )

    errors = [
        (
            "invalid params",
            error_response(3, InvalidParams("invalid params: Object contains unknown field `nope`")),
        ),
        ("method not found", error_response(4, MethodNotFound("method not found: nope"))),
        ("cancelled", error_response(5, RequestCancelled())),
        (
            "with data",
            error_response(
                6,
                UnknownHandle("no model with handle 'm9'"),
                data={"type": "UnknownHandle", "message": "no model with handle 'm9'"},
            ),
        ),
        ("null id", error_response(None, InvalidParams("frame skipped"))),
        (
            "with traceback",
            ErrorResponse(
                id=8,
                error=ErrorObject(
                    -32000,
                    "ValueError: bad",
                    {"type": "ValueError", "message": "bad", "traceback": "Traceback...\n"},
                ),
            ),
        ),
    ]
    for name, response in errors:
        add(f"error: {name}", "error", CODEC.encode(response))

    add(
        "notification: progress",
        "notification",
        CODEC.encode(
            OutgoingNotification(
                method="$/progress", params=ProgressParams(300, {"elapsed_seconds": 0.1, "fraction": 0.2})
            )
        ),
    )
    add(
        "notification: progress with text",
        "notification",
        CODEC.encode(OutgoingNotification(method="$/progress", params=ProgressParams(9, " world"))),
    )
    ready = ReadyParams(
        protocol=1,
        version="0.1.0",
        pid=1234,
        python="3.11.7",
        encoding="msgpack",
        framing="length",
        transport="stdio",
        methods=["worker/info", "worker/ping", "worker/shutdown"],
        max_frame_bytes=268435456,
        max_inflight=256,
    )
    add(
        "notification: worker/ready",
        "notification",
        CODEC.encode(OutgoingNotification(method="worker/ready", params=ready)),
    )
    batch = CODEC.join_array(
        [
            CODEC.encode(SuccessResponse(id=1, result="one")),
            CODEC.encode(error_response(2, MethodNotFound("nope"))),
        ]
    )
    add("batch of two responses", "batch", batch)

    with open(path, "w", encoding="utf-8") as f:
        json.dump(
            {
                "generator": "dotnet-host/tests/vectors/make_vectors.py",
                "msgspec": msgspec.__version__,
                "vectors": vectors,
            },
            f,
        )


if __name__ == "__main__":
    main(sys.argv[1])
