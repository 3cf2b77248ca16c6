"""Batches against a real worker under an address-space cap: a batch is bounded before its elements
are decoded, its requests count against --max-inflight, and every frame the worker writes for it is
within --max-frame-bytes.

Before the fix, a 20 KB batch of 20,000 non-objects made a 1.4 MB response under a 1 MB frame limit,
and a 10 MB batch took 5 GB and ended in one -32603 (its ping never answered).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO

import msgpack
import pytest

from tests.e2e.wire import Wire, error_code, is_response
from tests.reliability.capped import MiB, capped_worker, needs_prlimit
from tests.reliability.memory import needs_proc, rss_bytes

pytestmark = [pytest.mark.e2e, needs_prlimit, needs_proc]

INVALID_REQUEST, OVERLOADED, FRAME_TOO_LARGE, METHOD_NOT_FOUND = -32600, -32001, -32002, -32601
TEST_METHODS = "--enable-test-methods"


@dataclass(frozen=True)
class MeasuredWire(Wire):
    """A wire that also records the size of every frame the worker writes."""

    sizes: list[int] = field(default_factory=list, compare=False, hash=False)

    def read_frame(self, stream: IO[bytes]) -> bytes | None:
        frame = super().read_frame(stream)
        if frame is not None:
            self.sizes.append(len(frame))
        return frame


WIRES = [MeasuredWire("stdio", "length", "msgpack"), MeasuredWire("pipe", "lsp", "json")]
ENCODINGS = [MeasuredWire("stdio", "length", "msgpack"), MeasuredWire("stdio", "length", "json")]


def fresh(wire: MeasuredWire) -> MeasuredWire:
    return MeasuredWire(wire.transport, wire.framing, wire.encoding)


def batch_payload(encoding: str, count: int) -> bytes:
    """A batch of ``count`` non-objects (the number 1), as small as the encoding makes it."""
    if encoding == "json":
        return b"[" + b",".join([b"1"] * count) + b"]"
    return msgpack.packb([1] * count)


def call(id: object, method: str, params: object = None) -> dict[str, object]:
    message: dict[str, object] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


@pytest.mark.parametrize("wire", ENCODINGS, ids=lambda w: w.id)
def test_a_batch_of_20000_non_objects_is_one_small_error(wire: MeasuredWire) -> None:
    wire = fresh(wire)
    with capped_worker(wire, "--max-frame-bytes", "1000000") as w:
        mark = w.mark()
        w.send_payload(batch_payload(wire.encoding, 20_000))
        refused = w.wait_for(is_response, after=mark, what="the batch's refusal")
        assert refused["id"] is None and error_code(refused) == INVALID_REQUEST
        assert (
            "20000 elements" in refused["error"]["message"] or "more than 256" in refused["error"]["message"]
        )
        assert w.call("worker/ping", {"after": "batch"})["result"] == {"after": "batch"}
        assert not any(isinstance(m, list) for m in w.all_messages(mark))
        assert max(wire.sizes) < 1000


@pytest.mark.parametrize("wire", ENCODINGS, ids=lambda w: w.id)
def test_a_10_mb_batch_is_refused_at_once_and_the_ping_behind_it_answered(wire: MeasuredWire) -> None:
    with capped_worker(fresh(wire)) as w:
        before = rss_bytes(w.proc.pid)
        ping = w.wire.wrap(w.wire.encode(call("behind", "worker/ping", {"n": 1})))
        mark = w.mark()
        w.send_raw(w.wire.wrap(batch_payload(wire.encoding, 5_000_000)) + ping)
        refused = w.wait_for(is_response, after=mark, what="the batch's refusal", timeout=60)
        assert refused["id"] is None and error_code(refused) == INVALID_REQUEST
        assert w.response("behind", timeout=60)["result"] == {"n": 1}
        # The frame itself is held while it is checked (10 MB); its elements never were.
        assert rss_bytes(w.proc.pid) - before < 100 * MiB
        assert w.proc.poll() is None and w.protocol_errors == []


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_batch_counts_against_max_inflight_and_may_not_exceed_it(wire: MeasuredWire) -> None:
    with capped_worker(fresh(wire), TEST_METHODS, "--max-inflight", "4") as w:
        sleeps = [call(f"s{i}", "test/sleep", {"seconds": 3600}) for i in range(4)]
        mark = w.mark()
        w.send(sleeps + [call("s4", "test/sleep", {"seconds": 3600})])
        refused = w.wait_for(is_response, after=mark, what="the refusal of a batch of 5")
        assert refused["id"] is None and error_code(refused) == INVALID_REQUEST
        assert "the limit is 4 (--max-inflight)" in refused["error"]["message"]
        assert w.call("worker/info")["result"]["requests_total"] == 0  # nothing of it ran

        w.send(sleeps)  # four: admitted, and they fill --max-inflight
        assert w.call("worker/info")["result"]["inflight"] == 4
        mark = w.mark()
        w.send([call("e1", "test/echo", {"value": 1}), call("p1", "worker/ping", [1])])
        answers = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the second batch's answers")
        by_id = {m["id"]: m for m in answers}
        assert error_code(by_id["e1"]) == OVERLOADED  # counted like any request
        assert by_id["p1"]["result"] == [1]  # inline methods are exempt, in a batch as anywhere

        mark = w.mark()
        for sleep in sleeps:
            w.cancel(sleep["id"])
        cancelled = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the sleeps' batch answer")
        assert sorted(m["id"] for m in cancelled) == ["s0", "s1", "s2", "s3"]
        assert w.protocol_errors == []


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_batch_response_over_the_frame_limit_is_shrunk_to_fit_every_id_answered(wire: MeasuredWire) -> None:
    wire = fresh(wire)
    limit = 4096
    with capped_worker(wire, TEST_METHODS, "--max-frame-bytes", str(limit)) as w:
        # Results: worker/info answers are ten times their request; twenty of them exceed the limit.
        mark = w.mark()
        w.send([call(f"r{i}", "worker/info") for i in range(20)])
        answers = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the results' batch")
        assert sorted(m["id"] for m in answers) == sorted(f"r{i}" for i in range(20))
        codes = [error_code(m) for m in answers]
        assert set(codes) == {None, FRAME_TOO_LARGE} and codes.count(None) >= 2  # what fits is kept
        # Errors only: unknown methods with long names, as many as one request frame holds. Each
        # answer quotes its name, so together they come to more than the limit.
        name = "no/such/" + "m" * 100
        count = (limit - 64) // len(wire.encode(call(100, name)))
        unshrunk = sum(
            len(
                wire.encode(
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "error": {"code": -32601, "message": f"method not found: {name}"},
                    }
                )
            )
            for i in range(count)
        )
        assert unshrunk > limit
        mark = w.mark()
        w.send([call(i, name) for i in range(count)])
        errors = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the errors' batch")
        assert sorted(m["id"] for m in errors) == list(range(count))
        assert {error_code(m) for m in errors} == {METHOD_NOT_FOUND}  # shortened, same code
        assert any(len(m["error"]["message"]) < len(name) for m in errors)
        assert max(wire.sizes) <= limit
        assert w.protocol_errors == []


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_batch_whose_answers_could_not_fit_is_refused_before_it_runs(wire: MeasuredWire) -> None:
    wire = fresh(wire)
    limit = 4096
    with capped_worker(wire, TEST_METHODS, "--max-frame-bytes", str(limit)) as w:
        # Forty requests with ids of 40 characters fit one frame; their answers, even as the
        # shortest errors, would not: running the batch would lose answers.
        batch = [call(f"{i:040d}", "test/echo") for i in range(40)]
        assert len(wire.encode(batch)) < limit
        mark = w.mark()
        w.send(batch)
        refused = w.wait_for(is_response, after=mark, what="the batch's refusal")
        assert refused["id"] is None and error_code(refused) == INVALID_REQUEST
        assert f"over the frame limit of {limit} bytes" in refused["error"]["message"]
        assert w.call("worker/info")["result"]["requests_total"] == 0
        assert max(wire.sizes) <= limit


def test_json_and_msgpack_batches_over_the_limit_are_told_by_their_bytes() -> None:
    # A JSON batch whose elements hold many commas is counted by elements, not commas.
    wire = fresh(MeasuredWire("stdio", "ndjson", "json"))
    with capped_worker(wire, TEST_METHODS, "--max-inflight", "2") as w:
        many = list(range(500))
        mark = w.mark()
        w.send_payload(json.dumps([call(i, "test/echo", {"value": many}) for i in range(2)]).encode())
        answers = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the batch's answers")
        assert [m["result"] for m in sorted(answers, key=lambda m: m["id"])] == [many, many]
        mark = w.mark()
        w.send_payload(json.dumps([call(i, "test/echo", {"value": many}) for i in range(3)]).encode())
        refused = w.wait_for(is_response, after=mark, what="the refusal")
        assert (
            error_code(refused) == INVALID_REQUEST and "more than 2 elements" in refused["error"]["message"]
        )
