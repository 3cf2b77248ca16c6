"""Error messages against a real worker under an address-space cap: what the client sent is quoted only
up to a bound, invalid UTF-8 in MessagePack is refused as in JSON, an over-long ndjson line costs at
most the frame limit, and torch's out-of-memory error is -32008.

Before the fix, a 10 MB unknown params member came back twice (error.message and error.data.message)
in a 20 MB response, and a MessagePack key of invalid UTF-8 was accepted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.e2e.wire import Wire, error_code, is_response
from tests.reliability.capped import GiB, MiB, capped_worker, needs_prlimit
from tests.reliability.memory import needs_proc, rss_bytes

PARSE_ERROR = -32700
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
FRAME_TOO_LARGE = -32002
MAX_MESSAGE_CHARS = 1024  # protocol.md, Errors
MAX_QUOTE_CHARS = 128

pytestmark = [pytest.mark.e2e, needs_prlimit, needs_proc]

WIRES = [Wire("stdio", "length", "msgpack"), Wire("pipe", "lsp", "json"), Wire("stdio", "ndjson", "json")]


def assert_bounded(response: dict[str, object]) -> None:
    error = response["error"]
    assert isinstance(error, dict)
    assert len(error["message"]) <= MAX_MESSAGE_CHARS
    data = error.get("data") or {}
    assert all(len(value) <= MAX_MESSAGE_CHARS for value in data.values() if isinstance(value, str))
    assert len(json.dumps(response)) < 4 * MAX_MESSAGE_CHARS


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_ten_megabyte_unknown_member_is_named_shortened_not_echoed(wire: Wire) -> None:
    key = "k" * (10 << 20)
    with capped_worker(wire) as worker:
        response = worker.response(worker.request("tensor/list", {key: 1}), timeout=60)
        assert error_code(response) == INVALID_PARAMS
        assert "unknown field `kkk" in response["error"]["message"]
        assert str(10 << 20) in response["error"]["message"]  # says how long the name was
        assert response["error"]["message"].count("k") <= MAX_QUOTE_CHARS + 4
        assert_bounded(response)
        assert worker.call("worker/ping", {"after": 1})["result"] == {"after": 1}


@pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.id)
def test_a_megabyte_method_name_is_not_echoed(wire: Wire) -> None:
    with capped_worker(wire) as worker:
        response = worker.response(worker.request("m" * (1 << 20), {}), timeout=60)
        assert error_code(response) == METHOD_NOT_FOUND
        assert_bounded(response)
        assert worker.call("worker/ping")["result"] is None


# {"jsonrpc": "2.0", "id": 70, "method": "worker/ping", <one more member>}
PING_MEMBERS = b"\xa7jsonrpc\xa32.0\xa2id\x46\xa6method\xabworker/ping"


@pytest.mark.parametrize(
    "member",
    [b"\xa2\xff\xfe\x01", b"\xa1x\xa2\xff\xfe", b"\xa6params\x81\xa2\xff\xfe\x01"],
    ids=["key", "unknown-member-value", "params-key"],
)
def test_invalid_utf8_in_a_msgpack_message_is_a_parse_error_as_in_json(member: bytes) -> None:
    wire = Wire("stdio", "length", "msgpack")
    with capped_worker(wire) as worker:
        worker.send_payload(b"\x84" + PING_MEMBERS + member)
        refused = worker.wait_for(lambda m: error_code(m) is not None or is_response(m), what="an answer")
        assert error_code(refused) == PARSE_ERROR
        assert "UTF-8" in refused["error"]["message"]
        assert worker.responses_to(70) in ([], [refused])  # never a ping result echoing the bytes
        assert worker.call("worker/ping", {"ok": True})["result"] == {"ok": True}


def test_an_over_long_ndjson_line_is_held_only_up_to_the_limit_then_skipped() -> None:
    # protocol.md: the worker holds at most --max-frame-bytes of an over-long line (plus one read),
    # then skips the rest without keeping it, and answers -32002.
    limit = 1 << 20
    with capped_worker(Wire("stdio", "ndjson", "json"), "--max-frame-bytes", str(limit)) as worker:
        # Peak RSS only grows, and start-up may already have set it above today's RSS.
        peak_before = worker.call("worker/info")["result"]["peak_rss_bytes"]
        before = rss_bytes(worker.proc.pid)
        line = b'{"pad":"' + b"p" * (64 << 20) + b'"}\n'
        for start in range(0, len(line), 4 << 20):
            worker.send_raw(line[start : start + (4 << 20)])
        refused = worker.wait_for(lambda m: error_code(m) is not None, timeout=60, what="-32002")
        assert error_code(refused) == FRAME_TOO_LARGE and refused["id"] is None
        info = worker.call("worker/info")["result"]
        assert info["peak_rss_bytes"] - max(peak_before, before) < 16 * MiB
        assert rss_bytes(worker.proc.pid) - before < 16 * MiB


TORCH_OOM_UNDER_A_CAP = textwrap.dedent(
    """
    import resource, sys
    import torch
    from worker.runtime.dispatch import response_for_exception
    cap = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        torch.ones(cap, dtype=torch.uint8)  # as large as the whole address space allowed
    except BaseException as exc:
        response = response_for_exception(1, exc, debug=False)
        print(response.error.code, type(exc).__name__, response.error.message[:200])
    else:
        print("allocated")
    """
)


def test_torchs_cpu_out_of_memory_under_an_address_space_cap_is_answered_32008() -> None:
    pytest.importorskip("torch")
    cap = 6 * GiB
    done = subprocess.run(
        [sys.executable, "-c", TORCH_OOM_UNDER_A_CAP, str(cap)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    code, kind, message = done.stdout.strip().split(" ", 2)
    assert (code, kind) == ("-32008", "RuntimeError"), done.stdout
    assert "DefaultCPUAllocator" in message
