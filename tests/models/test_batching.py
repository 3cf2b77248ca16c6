"""The dynamic batcher on its own (no model, no torch): coalescing bounded by max_batch_size and
max_delay_ms, grouping by parameters, each caller's own outputs, failure isolation, cancellation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from worker.errors import RequestCancelled
from worker.models.batching import BatchingSettings, DynamicBatcher


class Recorder:
    """A fake model: doubles numbers, records each forward pass, refuses negative inputs."""

    def __init__(self, seconds: float = 0.0, gate: threading.Event | None = None) -> None:
        self.calls: list[list[Any]] = []
        self.seconds = seconds
        self.gate = gate  # when given, each forward pass holds until the test opens it
        self.lock = threading.Lock()

    def __call__(self, items: list[Any], params: Any) -> list[Any]:
        with self.lock:
            self.calls.append(list(items))
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        time.sleep(self.seconds)
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        return [i * 2 * params for i in items]


class FakeContext:
    def __init__(self) -> None:
        self.cancel_event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


def wait_until(condition: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.002)


def submit_all(batcher: DynamicBatcher, inputs: list[list[int]], params: int = 1) -> list[Any]:
    def one(items: list[int]) -> Any:
        try:
            return batcher.submit(items, params, str(params).encode(), None)
        except Exception as exc:  # returned to compare, not raised in a pool thread
            return exc

    with ThreadPoolExecutor(len(inputs)) as pool:
        return list(pool.map(one, inputs))


def test_concurrent_requests_coalesce_up_to_the_batch_size():
    model = Recorder(seconds=0.05)
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=8, max_delay_ms=500))
    results = submit_all(batcher, [[i] for i in range(20)])
    assert results == [[2 * i] for i in range(20)]  # each caller gets exactly its own output
    assert all(len(call) <= 8 for call in model.calls)
    assert len(model.calls) <= 4  # 20 inputs in batches of at most 8
    assert sorted(i for call in model.calls for i in call) == list(range(20))
    batcher.close()


def test_a_lone_request_waits_at_most_max_delay():
    model = Recorder()
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=32, max_delay_ms=30))
    started = time.monotonic()
    assert batcher.submit([5], 1, b"1", None) == [10]
    assert 0.02 <= time.monotonic() - started < 1.0
    batcher.close()


def test_requests_with_different_parameters_never_share_a_forward_pass():
    model = Recorder(seconds=0.02)
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=16, max_delay_ms=100))

    def one(i: int) -> Any:
        params = 1 if i % 2 else 10
        return batcher.submit([i], params, str(params).encode(), None)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(10)))
    assert results == [[i * 2 * (1 if i % 2 else 10)] for i in range(10)]
    for call in model.calls:
        assert len({i % 2 for i in call}) == 1
    batcher.close()


def test_multi_input_requests_keep_their_slices():
    model = Recorder()
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=10, max_delay_ms=100))
    inputs = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]]
    assert submit_all(batcher, inputs) == [[2 * i for i in items] for items in inputs]
    batcher.close()


def test_a_failing_input_fails_only_its_own_request():
    model = Recorder()
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=16, max_delay_ms=100))
    results = submit_all(batcher, [[1], [-1], [3], [4]])
    assert results[0] == [2] and results[2] == [6] and results[3] == [8]
    assert isinstance(results[1], ValueError)
    batcher.close()


def test_a_request_cancelled_while_queued_never_runs_and_others_are_undisturbed():
    gate = threading.Event()
    model = Recorder(gate=gate)
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=2, max_delay_ms=0))
    first = threading.Thread(target=batcher.submit, args=([1, 2], 1, b"1", None))
    first.start()
    wait_until(lambda: model.calls == [[1, 2]], "the first batch running (held at the gate)")
    ctx = FakeContext()
    outcome: dict[str, Any] = {}

    def cancelled_caller() -> None:
        try:
            batcher.submit([99], 1, b"1", ctx)  # type: ignore[arg-type]
        except RequestCancelled as exc:
            outcome["error"] = exc

    caller = threading.Thread(target=cancelled_caller)
    caller.start()
    wait_until(lambda: batcher.queued == 1, "[99] queued behind the running batch")
    ctx.cancel_event.set()
    caller.join(5)
    assert isinstance(outcome.get("error"), RequestCancelled)
    gate.set()
    assert batcher.submit([3], 1, b"1", None) == [6]
    first.join(5)
    assert all(99 not in call for call in model.calls)
    batcher.close()


def test_after_close_the_queue_drains_and_new_requests_are_refused():
    from worker.errors import ShuttingDown

    model = Recorder()
    batcher = DynamicBatcher("m", model, BatchingSettings(max_batch_size=4, max_delay_ms=1))
    assert batcher.submit([1], 1, b"1", None) == [2]
    batcher.close()
    with pytest.raises(ShuttingDown):
        batcher.submit([1], 1, b"1", None)


def test_a_lone_request_runs_at_once_when_nothing_else_is_in_flight():
    # A minute's delay: if the batcher waited for company, the caller would still be waiting below.
    model = Recorder()
    batcher = DynamicBatcher(
        "m", model, BatchingSettings(max_batch_size=8, max_delay_ms=60_000), requests_in_flight=lambda: 1
    )
    outcome: dict[str, Any] = {}
    caller = threading.Thread(target=lambda: outcome.update(result=batcher.submit([5], 1, b"1", None)))
    caller.start()
    caller.join(10)
    assert outcome.get("result") == [10], "the lone request waited for company that could not come"
    batcher.close()


def test_with_other_requests_in_flight_a_lone_request_waits_for_them():
    # Two requests in flight, one queued: the second is coming, so the first waits (up to a minute here)
    # and both run in one forward pass.
    model = Recorder()
    batcher = DynamicBatcher(
        "m", model, BatchingSettings(max_batch_size=2, max_delay_ms=60_000), requests_in_flight=lambda: 2
    )
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(batcher.submit([1], 1, b"1", None)))
    first.start()
    wait_until(lambda: batcher.queued == 1, "the first request queued")
    time.sleep(0.2)
    assert model.calls == [], "the first request ran without waiting for the second"
    results.append(batcher.submit([2], 1, b"1", None))
    first.join(10)
    assert sorted(results) == [[2], [4]]
    assert model.calls == [[1, 2]]
    batcher.close()
