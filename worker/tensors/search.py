"""Nearest-neighbour search of one query vector over kept embeddings, by brute force in numpy.

The corpus may be several [n_i, d] arrays searched as if concatenated (index counts across them)
without concatenating them: each part is scored in row chunks and only the best ``top_k`` rows seen
so far are kept between chunks, so the extra memory is a few MB plus a few numbers per result,
whatever the corpus size (one handle listed 1,000 times is searched in 1,000 times the time, not the
memory). Scores are computed in float64 when the corpus is float64 and in float32 otherwise
(float16 / bfloat16 / integer rows are widened chunk by chunk).

Metrics (results best first; ties go to the lower index):
    cosine  dot(q, c) / (|q| |c|), higher is better; a zero vector scores 0
    dot     dot(q, c), higher is better
    l2      Euclidean distance |q - c|, lower is better (the score is the distance itself)

Not here: where the vectors come from (handles, lists, text) -- see handlers/tensors.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from worker.errors import InvalidInput
from worker.tensors.types import Metric, SearchHit

# Rows per chunk are chosen so that one widened chunk stays around this size.
_CHUNK_BYTES = 8 << 20
# The fewest bytes one result takes in a response: {"index":0,"score":0.0} in JSON, and as MessagePack
# (a float is always 9 bytes there).
MIN_HIT_BYTES = 23


class Rows(Protocol):
    """What search needs of a corpus part: a numpy array, or anything sliced into numpy rows."""

    @property
    def shape(self) -> tuple[Any, ...]: ...
    @property
    def ndim(self) -> int: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    def __getitem__(self, key: slice, /) -> Any: ...


def compute_dtype(corpus: Sequence[Rows]) -> np.dtype[np.floating]:
    return np.dtype(np.float64) if any(part.dtype == np.float64 for part in corpus) else np.dtype(np.float32)


def as_query_vector(query: np.ndarray, what: str = "query") -> np.ndarray:
    """A query of shape [d] or [1, d] (d >= 1) as a 1-D vector; anything else is InvalidInput."""
    if query.ndim == 2 and query.shape[0] == 1:
        query = query[0]
    if query.ndim != 1:
        raise InvalidInput(f"the {what} must be one vector of shape [d] or [1, d], not {list(query.shape)}")
    if query.shape[0] == 0:
        # Also what keeps a corpus of shape [n, 0] from being searched: zero bytes kept, but n scores.
        raise InvalidInput(f"the {what} vector is empty")
    if query.dtype.kind == "f" and not np.isfinite(query).all():
        # Every score would be NaN, and the ranking meaningless.
        raise InvalidInput(f"the {what} vector holds NaN or infinity")
    return query


def search(
    query: np.ndarray,
    corpus: Sequence[Rows],
    *,
    top_k: int,
    metric: Metric = "cosine",
    check_cancelled: Callable[[], None] | None = None,
) -> list[SearchHit]:
    """The ``top_k`` corpus rows nearest to ``query`` (1-D, length d), best first."""
    vector = as_query_vector(np.asarray(query))
    dim = vector.shape[0]
    for number, part in enumerate(corpus):
        if part.ndim != 2:
            raise InvalidInput(f"corpus part {number} must have shape [n, d], not {list(part.shape)}")
        if part.shape[1] != dim:
            raise InvalidInput(
                f"dimension mismatch: the query has {dim} dimensions but corpus part {number} "
                f"has shape {list(part.shape)}"
            )
    dtype = compute_dtype(corpus)
    q = vector.astype(dtype, copy=False)
    q_norm = float(np.linalg.norm(q.astype(np.float64)))
    best = _Best(top_k, higher_is_better=metric != "l2")
    offset = 0
    for part in corpus:
        for start, scores in _score_chunks(q, q_norm, part, metric, dtype, check_cancelled):
            best.add(scores, offset + start)
        offset += part.shape[0]
    return best.hits()


def _score_chunks(
    q: np.ndarray,
    q_norm: float,
    part: Rows,
    metric: Metric,
    dtype: np.dtype[np.floating],
    check_cancelled: Callable[[], None] | None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, scores) for each chunk of rows of ``part``."""
    rows = part.shape[0]
    step = max(1, _CHUNK_BYTES // max(1, part.shape[1] * dtype.itemsize))
    for start in range(0, rows, step):
        if check_cancelled is not None:
            check_cancelled()
        chunk = part[start : start + step].astype(dtype, copy=False)
        if metric == "l2":
            diff = chunk - q
            scores = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        elif metric == "dot":
            scores = chunk @ q
        else:
            norms = np.sqrt(np.einsum("ij,ij->i", chunk, chunk)) * dtype.type(q_norm)
            dots = chunk @ q
            scores = np.zeros(chunk.shape[0], dtype=dtype)
            np.divide(dots, norms, out=scores, where=norms != 0)  # NaN rows stay NaN
        yield start, scores.astype(dtype, copy=False)


class _Best:
    """The ``top_k`` best rows seen so far, as parallel arrays of sort keys, indices and scores.

    Sort keys are smaller-is-better (scores negated when higher is better); NaN (from NaN or inf in
    the data) is worst. Ties go to the lower index: rows arrive in index order, so a new row that
    only ties with the worst one kept can never displace it."""

    def __init__(self, top_k: int, *, higher_is_better: bool) -> None:
        self._k = top_k
        self._higher = higher_is_better
        self._keys = np.empty(0, np.float64)
        self._indices = np.empty(0, np.int64)
        self._scores = np.empty(0, np.float64)

    def add(self, scores: np.ndarray, first_index: int) -> None:
        keys = (-scores if self._higher else scores).astype(np.float64)
        keys[np.isnan(keys)] = np.inf
        indices = np.arange(first_index, first_index + scores.shape[0], dtype=np.int64)
        values = scores.astype(np.float64)
        if self._keys.shape[0] >= self._k:
            better = keys < self._keys[-1]
            keys, indices, values = keys[better], indices[better], values[better]
        if keys.shape[0] == 0:
            return
        keys = np.concatenate([self._keys, keys])
        indices = np.concatenate([self._indices, indices])
        values = np.concatenate([self._scores, values])
        if keys.shape[0] > self._k:
            # Everything that ties with the k-th best is a candidate, so ties resolve by index.
            kth = np.partition(keys, self._k - 1)[self._k - 1]
            candidates = np.flatnonzero(keys <= kth)
        else:
            candidates = np.arange(keys.shape[0])
        order = candidates[np.lexsort((indices[candidates], keys[candidates]))][: self._k]
        self._keys, self._indices, self._scores = keys[order], indices[order], values[order]

    def hits(self) -> list[SearchHit]:
        return [SearchHit(int(i), float(s)) for i, s in zip(self._indices, self._scores, strict=True)]
