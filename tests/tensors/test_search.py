"""search(): the same ranking and scores as a brute-force numpy reference, for every metric."""

from __future__ import annotations

import numpy as np
import pytest

from worker.errors import InvalidInput, RequestCancelled
from worker.tensors import search as search_module
from worker.tensors.search import search
from worker.tensors.store import TensorStore
from worker.tensors.types import SearchHit


def reference(query: np.ndarray, corpus: np.ndarray, metric: str, top_k: int) -> list[tuple[int, float]]:
    """Brute force in float64, written independently of the module under test."""
    q = query.astype(np.float64)
    c = corpus.astype(np.float64)
    if metric == "cosine":
        scores = (c @ q) / (np.linalg.norm(c, axis=1) * np.linalg.norm(q))
        order = sorted(range(len(c)), key=lambda i: (-scores[i], i))
    elif metric == "dot":
        scores = c @ q
        order = sorted(range(len(c)), key=lambda i: (-scores[i], i))
    else:
        scores = np.linalg.norm(c - q, axis=1)
        order = sorted(range(len(c)), key=lambda i: (scores[i], i))
    return [(i, float(scores[i])) for i in order[:top_k]]


def assert_same(hits: list[SearchHit], expected: list[tuple[int, float]], rtol: float = 1e-5) -> None:
    assert [h.index for h in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_brute_force(metric: str, dtype: type) -> None:
    rng = np.random.default_rng(1)
    corpus = rng.standard_normal((500, 24)).astype(dtype)
    query = rng.standard_normal(24).astype(dtype)
    hits = search(query, [corpus], top_k=17, metric=metric)  # type: ignore[arg-type]
    assert_same(hits, reference(query, corpus, metric, 17))


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_several_corpus_parts_are_searched_as_one(metric: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "_CHUNK_BYTES", 64)  # many chunks per part
    rng = np.random.default_rng(2)
    parts = [rng.standard_normal((n, 8)).astype(np.float32) for n in (30, 1, 45)]
    query = rng.standard_normal(8).astype(np.float32)
    hits = search(query, parts, top_k=76, metric=metric)  # type: ignore[arg-type]
    assert_same(hits, reference(query, np.concatenate(parts), metric, 76))


def test_cosine_is_the_default_and_a_query_may_be_a_single_row_matrix() -> None:
    rng = np.random.default_rng(3)
    corpus = rng.standard_normal((50, 5)).astype(np.float32)
    query = rng.standard_normal((1, 5)).astype(np.float32)
    assert_same(search(query, [corpus], top_k=5), reference(query[0], corpus, "cosine", 5))


def test_half_precision_and_integer_corpora_are_widened() -> None:
    rng = np.random.default_rng(4)
    corpus = rng.standard_normal((64, 8)).astype(np.float16)
    query = rng.standard_normal(8)
    assert_same(
        search(query, [corpus], top_k=10, metric="dot"), reference(query, corpus, "dot", 10), rtol=1e-3
    )
    ints = rng.integers(-5, 5, (40, 3)).astype(np.int8)
    assert_same(search(np.array([1.0, 2.0, 3.0]), [ints], top_k=40, metric="l2"),
                reference(np.array([1.0, 2.0, 3.0]), ints, "l2", 40))  # fmt: skip


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_a_bfloat16_corpus_is_widened_slice_by_slice(metric: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "_CHUNK_BYTES", 256)
    rng = np.random.default_rng(5)
    bits = rng.integers(0x3C00, 0x4100, (90, 7), dtype=np.uint16)  # ordinary bfloat16 magnitudes
    signs = rng.integers(0, 2, bits.shape, dtype=np.uint16) << 15
    store = TensorStore()
    handle = store.put_array(bits | signs, dtype="bfloat16").handle
    rows = store.get_rows(handle)
    assert not isinstance(rows, np.ndarray)  # a lazily widened view, not a float32 copy
    query = rng.standard_normal(7)
    hits = search(query, [rows], top_k=90, metric=metric)  # type: ignore[arg-type]
    assert_same(hits, reference(query, store.get_array(handle), metric, 90))


def test_top_k_larger_than_the_corpus_returns_every_row() -> None:
    corpus = np.eye(3, dtype=np.float32)
    hits = search(np.array([0.0, 1.0, 0.0]), [corpus], top_k=100)
    assert [h.index for h in hits] == [1, 0, 2]
    assert [h.score for h in hits] == [1.0, 0.0, 0.0]


def test_ties_go_to_the_lower_index_even_across_the_top_k_boundary() -> None:
    corpus = np.array([[1.0, 0.0]] * 6 + [[2.0, 0.0]], dtype=np.float32)
    hits = search(np.array([1.0, 0.0]), [corpus], top_k=3, metric="dot")
    assert [(h.index, h.score) for h in hits] == [(6, 2.0), (0, 1.0), (1, 1.0)]


def test_l2_reports_distances_smallest_first() -> None:
    corpus = np.array([[3.0, 4.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32)
    hits = search(np.array([0.0, 0.0]), [corpus], top_k=3, metric="l2")
    assert [(h.index, h.score) for h in hits] == [(2, 0.0), (1, 1.0), (0, 5.0)]


def test_zero_vectors_score_zero_in_cosine_and_nan_rows_rank_last() -> None:
    corpus = np.array([[0.0, 0.0], [np.nan, 1.0], [1.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    hits = search(np.array([1.0, 0.0]), [corpus], top_k=4)
    assert [h.index for h in hits] == [2, 0, 3, 1]
    assert hits[1].score == 0.0
    assert np.isnan(hits[3].score)


def test_an_empty_corpus_finds_nothing() -> None:
    assert search(np.ones(4), [np.zeros((0, 4), np.float32)], top_k=3) == []


def test_dimension_mismatch_is_invalid_input_naming_both_shapes() -> None:
    corpus = [np.zeros((5, 4), np.float32), np.zeros((2, 3), np.float32)]
    with pytest.raises(InvalidInput, match=r"query has 4 dimensions but corpus part 1 has shape \[2, 3\]"):
        search(np.ones(4), corpus, top_k=1)


@pytest.mark.parametrize(
    ("query", "corpus", "message"),
    [
        (np.ones((2, 4)), np.zeros((5, 4)), r"one vector of shape \[d\] or \[1, d\], not \[2, 4\]"),
        (np.ones(4), np.zeros((2, 2, 4)), r"must have shape \[n, d\], not \[2, 2, 4\]"),
    ],
)
def test_shapes_that_are_not_vectors_and_matrices_are_invalid_input(
    query: np.ndarray, corpus: np.ndarray, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        search(query, [corpus], top_k=1)


def test_cancellation_is_checked_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "_CHUNK_BYTES", 64)
    calls = 0

    def cancel_on_third() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RequestCancelled()

    with pytest.raises(RequestCancelled):
        search(np.ones(4), [np.ones((100, 4), np.float32)], top_k=1, check_cancelled=cancel_on_third)
    assert calls == 3
