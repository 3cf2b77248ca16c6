"""The tensor methods through the real worker process, over MessagePack (bin) and JSON (base64)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.tensors.test_search import reference
from tests.tensors.test_store import random_bytes
from worker.client import WorkerCallError, WorkerClient
from worker.tensors.dtypes import WIRE_DTYPES

pytestmark = pytest.mark.e2e

ENCODINGS = ["msgpack", "json"]


TIMEOUT = 60


class Worker(WorkerClient):
    """The shared client, with a timeout on every call and the wire's bytes as bytes."""

    def __init__(self, encoding: Any) -> None:
        super().__init__(encoding=encoding, stderr=subprocess.DEVNULL)
        self.encoding = encoding

    def call(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        return super().call(method, params, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)

    def close(self, timeout: float = 30.0) -> int | None:
        # WorkerClient.close leaves the child's stdout open (a ResourceWarning, an error here).
        code = super().close(timeout)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code

    def binary(self, value: Any) -> bytes:
        """A ``bytes`` result field: MessagePack bin, or base64 text in JSON."""
        return base64.b64decode(value, validate=True) if self.encoding == "json" else bytes(value)


@pytest.fixture(scope="module", params=ENCODINGS)
def worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    with Worker(request.param) as w:
        yield w


@pytest.fixture(params=ENCODINGS)
def fresh_worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    with Worker(request.param) as w:
        yield w


def fails(worker: Worker, code: int, method: str, params: object) -> WorkerCallError:
    """Call, expect the error ``code``, then check that the worker still answers."""
    with pytest.raises(WorkerCallError) as caught:
        worker.call(method, params)
    assert caught.value.code == code, caught.value
    assert worker.call("worker/ping", {"still": "serving"}) == {"still": "serving"}
    return caught.value


def put(worker: Worker, array: np.ndarray, dtype: str | None = None) -> str:
    dtype = dtype or str(array.dtype)
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    result = worker.call("tensor/put", {"data": data, "dtype": dtype, "shape": list(array.shape)})
    assert (result["dtype"], result["shape"], result["nbytes"]) == (dtype, list(array.shape), len(data))
    return str(result["handle"])


# ---- put / get ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(WIRE_DTYPES))
def test_every_dtype_round_trips_byte_for_byte(worker: Worker, dtype: str) -> None:
    data = random_bytes(dtype, [2, 3, 4], seed=len(dtype))
    info = worker.call("tensor/put", {"data": data, "dtype": dtype, "shape": [2, 3, 4]})
    assert info["handle"].startswith("t-")
    got = worker.call("tensor/get", {"handle": info["handle"]})
    assert (got["dtype"], got["shape"]) == (dtype, [2, 3, 4])
    assert worker.binary(got["data"]) == data


def test_a_scalar_and_an_empty_tensor_round_trip(worker: Worker) -> None:
    scalar = worker.call("tensor/put", {"data": b"\x01\x02", "dtype": "int16", "shape": []})
    got = worker.call("tensor/get", {"handle": scalar["handle"]})
    assert (worker.binary(got["data"]), got["shape"]) == (b"\x01\x02", [])
    empty = worker.call("tensor/put", {"data": b"", "dtype": "float32", "shape": [3, 0]})
    got = worker.call("tensor/get", {"handle": empty["handle"]})
    assert (worker.binary(got["data"]), got["shape"]) == (b"", [3, 0])


def test_bytes_that_do_not_match_dtype_and_shape_are_invalid_input(worker: Worker) -> None:
    error = fails(worker, -32006, "tensor/put", {"data": b"\0" * 12, "dtype": "float32", "shape": [2, 2]})
    assert "12 bytes" in error.message and "16 bytes" in error.message


def test_unknown_dtype_and_negative_dims_are_invalid_params(worker: Worker) -> None:
    error = fails(worker, -32602, "tensor/put", {"data": b"\0" * 8, "dtype": "complex64", "shape": [1]})
    assert "complex64" in error.message and "bfloat16" in error.message
    error = fails(worker, -32602, "tensor/put", {"data": b"", "dtype": "uint8", "shape": [-1, 0]})
    assert "negative" in error.message
    fails(worker, -32602, "tensor/put", {"data": b"", "dtype": "uint8", "shape": [0] * 33})


def test_malformed_put_params_are_invalid_params(worker: Worker) -> None:
    fails(worker, -32602, "tensor/put", {"data": b"\0", "dtype": "uint8"})
    fails(worker, -32602, "tensor/put", {"data": b"\0", "dtype": "uint8", "shape": [1], "extra": 1})
    fails(worker, -32602, "tensor/put", {"data": b"\0", "dtype": "uint8", "shape": [1.5]})
    # Binary data must be bin in MessagePack and valid base64 in JSON.
    fails(worker, -32602, "tensor/put", {"data": "not base64!", "dtype": "uint8", "shape": [1]})


def test_freed_and_unknown_handles_get_a_clear_error(worker: Worker) -> None:
    handle = put(worker, np.arange(4, dtype=np.int32))
    freed = worker.call("tensor/free", {"handles": [handle]})
    assert [t["handle"] for t in freed["freed"]] == [handle] and freed["freed_bytes"] == 16
    error = fails(worker, -32004, "tensor/get", {"handle": handle})
    assert error.message == f"tensor handle '{handle}' was freed"
    error = fails(worker, -32004, "tensor/get", {"handle": "no-such-tensor"})
    assert error.message == "unknown tensor handle 'no-such-tensor'"
    error = fails(worker, -32004, "tensor/free", {"handles": [handle]})
    assert "was freed" in error.message


# ---- list / free / memory -----------------------------------------------------------------------


def test_list_accounts_for_every_tensor_and_byte(fresh_worker: Worker) -> None:
    w = fresh_worker
    from worker.tensors.budget import default_budget_bytes  # the worker runs under this process's limits

    budget = default_budget_bytes()
    assert w.call("tensor/list") == {"tensors": [], "count": 0, "total_bytes": 0, "budget_bytes": budget}
    a = put(w, np.zeros((10, 10), np.float32))
    b = put(w, np.zeros(7, np.int8))
    c = put(w, np.zeros((3, 2), np.float64))
    listed = w.call("tensor/list")
    assert listed["tensors"] == [
        {"handle": a, "dtype": "float32", "shape": [10, 10], "nbytes": 400},
        {"handle": b, "dtype": "int8", "shape": [7], "nbytes": 7},
        {"handle": c, "dtype": "float64", "shape": [3, 2], "nbytes": 48},
    ]
    assert (listed["count"], listed["total_bytes"]) == (3, 455)
    freed = w.call("tensor/free", {"handles": [a, c]})
    assert (freed["freed_bytes"], freed["total_bytes"]) == (448, 7)
    fails(w, -32004, "tensor/free", {"handles": [b, a]})  # all or nothing: b stays
    assert w.call("tensor/list")["tensors"] == [{"handle": b, "dtype": "int8", "shape": [7], "nbytes": 7}]


def test_freeing_a_large_tensor_gives_its_memory_back() -> None:
    size = 128 << 20
    with Worker("msgpack") as w:
        w.call("tensor/list")  # numpy imported and the store built before the baseline
        baseline = w.call("worker/info")["rss_bytes"]
        handle = w.call("tensor/put", {"data": bytes(size), "dtype": "uint8", "shape": [size]})["handle"]
        held = w.call("worker/info")["rss_bytes"]
        w.call("tensor/free", {"handles": [handle]})
        after = w.call("worker/info")["rss_bytes"]
    assert held - baseline > 0.9 * size, (baseline, held, after)
    assert held - after > 0.9 * size, (baseline, held, after)


# ---- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search_matches_brute_force_for_handle_and_vector_queries(worker: Worker, metric: str) -> None:
    rng = np.random.default_rng(7)
    corpus = rng.standard_normal((300, 16)).astype(np.float32)
    query = rng.standard_normal(16).astype(np.float32)
    corpus_handle = put(worker, corpus)
    query_handle = put(worker, query[None, :])
    expected = reference(query, corpus, metric, 12)
    for q in (query_handle, query.tolist()):
        hits = worker.call(
            "tensor/search", {"query": q, "corpus": corpus_handle, "top_k": 12, "metric": metric}
        )
        assert [h["index"] for h in hits] == [i for i, _ in expected]
        np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in expected], rtol=1e-5, atol=1e-6)


def test_search_over_several_handles_indexes_the_concatenation(worker: Worker) -> None:
    rng = np.random.default_rng(8)
    parts = [rng.standard_normal((n, 6)).astype(np.float32) for n in (20, 35)]
    handles = [put(worker, p) for p in parts]
    query = rng.standard_normal(6)
    hits = worker.call("tensor/search", {"query": query.tolist(), "corpus": handles, "top_k": 55})
    assert [h["index"] for h in hits] == [i for i, _ in reference(query, np.concatenate(parts), "cosine", 55)]


def test_search_over_a_bfloat16_corpus(worker: Worker) -> None:
    rng = np.random.default_rng(10)
    values = rng.standard_normal((50, 8)).astype(np.float32)
    bits = (values.view("<u4") >> 16).astype("<u2")  # truncated to bfloat16
    handle = worker.call("tensor/put", {"data": bits.tobytes(), "dtype": "bfloat16", "shape": [50, 8]})[
        "handle"
    ]
    exact = (bits.astype("<u4") << 16).view("<f4")
    query = rng.standard_normal(8)
    hits = worker.call(
        "tensor/search", {"query": query.tolist(), "corpus": handle, "top_k": 50, "metric": "l2"}
    )
    expected = reference(query, exact, "l2", 50)
    assert [h["index"] for h in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in expected], rtol=1e-5)


def test_search_defaults_to_cosine_and_ten_results(worker: Worker) -> None:
    rng = np.random.default_rng(9)
    corpus = rng.standard_normal((40, 4)).astype(np.float64)
    handle = put(worker, corpus)
    hits = worker.call("tensor/search", {"query": [1.0, 0.0, 0.0, 0.0], "corpus": handle})
    assert [h["index"] for h in hits] == [i for i, _ in reference(np.eye(4)[0], corpus, "cosine", 10)]


def test_search_errors_are_clear_and_the_worker_keeps_serving(worker: Worker) -> None:
    corpus = put(worker, np.ones((5, 4), np.float32))
    other = put(worker, np.ones((5, 3), np.float32))
    error = fails(worker, -32006, "tensor/search", {"query": [1.0, 2.0], "corpus": corpus})
    assert "2 dimensions" in error.message and "[5, 4]" in error.message
    fails(worker, -32006, "tensor/search", {"query": [1.0] * 4, "corpus": [corpus, other]})
    fails(worker, -32006, "tensor/search", {"query": [], "corpus": corpus})
    not_a_number = put(worker, np.array([np.nan, 1.0, 1.0, 1.0], np.float32))
    error = fails(worker, -32006, "tensor/search", {"query": not_a_number, "corpus": corpus})
    assert "NaN or infinity" in error.message  # every score was NaN, ranked anyhow
    infinite = put(worker, np.array([np.inf, 1.0, 1.0, 1.0], np.float32))
    assert (
        "NaN or infinity"
        in fails(worker, -32006, "tensor/search", {"query": infinite, "corpus": corpus}).message
    )
    fails(worker, -32004, "tensor/search", {"query": [1.0] * 4, "corpus": "t-0"})
    fails(worker, -32004, "tensor/search", {"query": "nope", "corpus": corpus})
    fails(worker, -32602, "tensor/search", {"query": [1.0] * 4, "corpus": corpus, "metric": "manhattan"})
    fails(worker, -32602, "tensor/search", {"query": [1.0] * 4, "corpus": corpus, "top_k": 0})
    fails(worker, -32602, "tensor/search", {"query": [1.0] * 4, "corpus": []})
    fails(worker, -32602, "tensor/search", {"query": {"text": "hi"}, "corpus": corpus})
