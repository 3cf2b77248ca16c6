"""bench/fuzz.py's target, run without atheris: it accepts a sound worker and catches a broken one.

The fuzzer is not run in CI; these keep its target and seeds from rotting as the worker changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.fuzz import COMBINATIONS, RAW, protocol_examples, seeds, signature
from bench.fuzz_target import Target, Violation

PAIRS = pytest.mark.parametrize(("framing", "encoding"), COMBINATIONS, ids=lambda v: v)


@pytest.fixture
def target(framing: str, encoding: str) -> Iterator[Target]:
    t = Target(framing, encoding, max_frame_bytes=4096)
    yield t
    t.close()


@PAIRS
def test_the_target_accepts_the_protocol_examples_and_garbage(target: Target) -> None:
    examples = {
        name: data for name, data in seeds(target.framing, target.encoding).items() if "protocol" in name
    }
    assert len(examples) > len(protocol_examples())
    garbage = [b"", RAW, RAW + b"\x00\x00", RAW + b"Content-Length: 3\r\n\r\n{}", b"\x01\xc1\xc1", b"\x01[]"]
    for data in [*examples.values(), *garbage, RAW + target.ping_frame * 3]:
        target.one_input(data)


@PAIRS
def test_the_target_catches_a_response_sent_twice(target: Target) -> None:
    send = target.dispatcher.send

    def twice(message: Any) -> None:
        send(message)
        send(message)

    target.dispatcher.send = twice
    with pytest.raises(Violation) as caught:
        target.one_input(RAW)
    assert caught.value.kind == "not exactly one answer per request"


@PAIRS
def test_the_target_catches_a_lost_response(target: Target) -> None:
    send = target.dispatcher.send
    target.dispatcher.send = lambda message: None if isinstance(message, list) else send(message)
    batch = target.encode([{"jsonrpc": "2.0", "id": 1, "method": "test/echo", "params": {"value": 1}}])
    with pytest.raises(Violation) as caught:
        target.one_input(b"\x01" + batch)
    assert caught.value.kind == "not exactly one answer per request"


@PAIRS
def test_the_target_catches_a_frame_over_the_limit(target: Target) -> None:
    target.writer._max = 1 << 20  # the writer no longer keeps the limit the target checks
    # Each worker/info answer is ten times the size of its request.
    batch = [{"jsonrpc": "2.0", "id": i, "method": "worker/info"} for i in range(20)]
    with pytest.raises(Violation) as caught:
        target.one_input(b"\x01" + target.encode(batch))
    assert caught.value.kind == "a frame written exceeds max_frame_bytes"


def test_crashes_are_grouped_by_cause_not_by_data() -> None:
    a = Violation("not exactly one answer per request", "single responses: no response for Answer(id=1)")
    b = Violation("not exactly one answer per request", "single responses: no response for Answer(id=2)")
    assert signature(a) == signature(b) != signature(Violation("the framing lost step", "x"))


def test_the_seeds_hold_the_attack_shapes_of_issue_9() -> None:
    for framing, encoding in COMBINATIONS:
        names = seeds(framing, encoding)
        for shape in ("lsp-content-length-5000-digits", "batch-20000-non-objects", "invalid-utf8-key"):
            assert shape in names
        assert all(data[:1] in (b"\x00", b"\x01") for data in names.values())
