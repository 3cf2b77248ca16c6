"""Ids against a real worker under an address-space cap: an id in flight, or already used in the same
batch, is refused -32600 whatever the method, so no two answers the client is waiting for share an id.

Before the fix, while request 5 was in flight, ``worker/ping`` and ``worker/info`` with id 5 were
answered normally (they skip admission): three responses carried id 5, and a client matching by id
took the wrong one for its request.
"""

from __future__ import annotations

import pytest

from tests.e2e.wire import ALL_WIRES, Wire, error_code, is_response
from tests.reliability.capped import capped_worker, needs_prlimit

pytestmark = [pytest.mark.e2e, needs_prlimit]

INVALID_REQUEST = -32600
WIRES = [w for w in ALL_WIRES if (w.transport, w.framing) in {("stdio", "length"), ("pipe", "ndjson")}]


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_ping_and_info_with_an_id_in_flight_are_refused(wire: Wire) -> None:
    with capped_worker(wire, "--enable-test-methods") as w:
        _, key = w.hang_until_released(5)
        for method in ("worker/ping", "worker/info", "test/echo"):
            mark = w.mark()
            w.request(method, id=5)
            refused = w.wait_for(is_response, after=mark, what=f"the answer to {method} with id 5")
            assert refused["id"] == 5 and error_code(refused) == INVALID_REQUEST
            assert "already in flight" in refused["error"]["message"]
        assert w.call("test/release", {"key": key})["result"] == {"waiting": 1}
        # The request that owns id 5 gets its own answer, and ping takes id 5 again once it is free.
        answers = [
            w.wait_for(lambda m: is_response(m) and m["id"] == 5 and "result" in m, what="the hang's result")
        ]
        assert "hung_seconds" in answers[0]["result"]
        assert w.call("worker/ping", [5])["result"] == [5]
        mark = w.mark()
        w.request("worker/ping", [5], id=5)
        assert w.wait_for(is_response, after=mark)["result"] == [5]
        assert [error_code(m) for m in w.responses_to(5)] == [INVALID_REQUEST] * 3 + [None, None]


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_an_id_repeated_within_a_batch_is_refused_whatever_the_method(wire: Wire) -> None:
    with capped_worker(wire, "--enable-test-methods") as w:
        mark = w.mark()
        w.send(
            [
                {"jsonrpc": "2.0", "id": 7, "method": "worker/ping", "params": ["first"]},
                {"jsonrpc": "2.0", "id": 7, "method": "worker/info"},
                {"jsonrpc": "2.0", "id": 7, "method": "test/echo", "params": {"value": "third"}},
                {"jsonrpc": "2.0", "id": 8, "method": "test/echo", "params": {"value": "other"}},
            ]
        )
        batch = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the batch's answers")
        sevens = [m for m in batch if m["id"] == 7]
        assert [m.get("result") for m in sevens if "result" in m] == [["first"]]
        assert sorted(error_code(m) or 0 for m in sevens) == [INVALID_REQUEST, INVALID_REQUEST, 0]
        assert [m["result"] for m in batch if m["id"] == 8] == ["other"]


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_batch_request_with_an_id_in_flight_is_refused_inside_the_batch(wire: Wire) -> None:
    with capped_worker(wire, "--enable-test-methods") as w:
        _, key = w.hang_until_released("busy")
        mark = w.mark()
        w.send(
            [
                {"jsonrpc": "2.0", "id": "busy", "method": "worker/ping"},
                {"jsonrpc": "2.0", "id": "free", "method": "worker/ping", "params": [1]},
            ]
        )
        batch = w.wait_for(lambda m: isinstance(m, list), after=mark, what="the batch's answers")
        by_id = {m["id"]: m for m in batch}
        assert error_code(by_id["busy"]) == INVALID_REQUEST
        assert by_id["free"]["result"] == [1]
        w.call("test/release", {"key": key})
        assert "result" in w.wait_for(lambda m: is_response(m) and m["id"] == "busy" and "result" in m)
