"""protocol.md is executed: every ```jsonrpc example runs against a real worker, every ```hex dump is
checked against the worker's own encoder."""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests.docs.markdown_blocks import ROOT, Block, blocks
from worker.rpc.codec import Codec

PROTOCOL = ROOT / "protocol.md"
ALL_BLOCKS = blocks(PROTOCOL)
WILDCARD = "..."


def _ids(kind: str) -> list[Any]:
    return [pytest.param(b, id=f"line{b.line}") for b in ALL_BLOCKS if b.kind == kind]


def matches(expected: Any, actual: Any) -> bool:
    """Structural equality where the string "..." in ``expected`` stands for any value."""
    if expected == WILDCARD:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and expected.keys() == actual.keys()
            and all(matches(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(type(expected) is type(actual) and expected == actual) or (
        isinstance(expected, float) and isinstance(actual, (int, float)) and expected == actual
    )


def match_batch_unordered(expected: Any, actual: Any) -> bool:
    """Batch responses may come in any order."""
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return _assign(list(expected), list(actual))
    return matches(expected, actual)


def _assign(expected: list[Any], actual: list[Any]) -> bool:
    if not expected:
        return True
    head, rest = expected[0], expected[1:]
    for i, candidate in enumerate(actual):
        if match_batch_unordered(head, candidate) and _assign(rest, actual[:i] + actual[i + 1 :]):
            return True
    return False


class NdjsonWorker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "--framing", "ndjson", "--enable-test-methods"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> Any:
        return json.loads(self.lines.get(timeout=timeout))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._pump_thread.join(5)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.mark.e2e
@pytest.mark.parametrize("block", _ids("jsonrpc"))
def test_jsonrpc_example_runs_as_written(block: Block) -> None:
    sent = [line[4:] for line in block.body.splitlines() if line.startswith("--> ")]
    expected = [json.loads(line[4:]) for line in block.body.splitlines() if line.startswith("<-- ")]
    assert sent, "an example must send something"
    worker = NdjsonWorker()
    try:
        ready = worker.receive(timeout=30)
        assert ready["method"] == "worker/ready"
        if block.rest == "sequential":
            # Each request waits for the previous response (a put before the get that uses its handle).
            actual = []
            for line in block.body.splitlines():
                if line.startswith("--> "):
                    worker.send(line[4:])
                elif line.startswith("<-- "):
                    actual.append(worker.receive(timeout=60))
        else:
            for line in sent:
                worker.send(line)
                time.sleep(0.02)  # keep the example's order on the wire meaningful (e.g. cancel after call)
            actual = [worker.receive(timeout=15) for _ in expected]
        with pytest.raises(queue.Empty):
            extra = worker.receive(timeout=0.5)
            pytest.fail(f"unexpected extra message: {extra}")
    finally:
        worker.close()
    unmatched = list(actual)
    for want in expected:
        hit = next((a for a in unmatched if match_batch_unordered(want, a)), None)
        assert hit is not None, f"no response matches {want}\nactual: {actual}"
        unmatched.remove(hit)


def _with_bytes(value: Any) -> Any:
    """{"$bytes": base64} in a hex example's message stands for a binary value."""
    if isinstance(value, dict):
        if value.keys() == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: _with_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_bytes(v) for v in value]
    return value


@pytest.mark.parametrize("block", _ids("hex"))
def test_hex_dump_is_what_the_worker_encodes(block: Block) -> None:
    encoding, rest = block.rest.split(" ", 1)
    framed = rest.startswith("framed ")
    message = _with_bytes(json.loads(rest.removeprefix("framed ")))
    payload = Codec(encoding).encode(message)  # type: ignore[arg-type]
    wire = len(payload).to_bytes(4, "big") + payload if framed else payload
    assert bytes.fromhex(block.body) == wire


def test_protocol_has_examples_to_run() -> None:
    assert len(_ids("jsonrpc")) >= 5
    assert len(_ids("hex")) >= 4
