"""Nearest-neighbour search of one query vector over kept embeddings, by brute force in numpy.

The corpus may be several [n_i, d] arrays searched as if concatenated (index counts across them)
without concatenating them: each part is scored in row chunks, so the extra memory is a few MB plus
one score per row, whatever the corpus size. Scores are computed in float64 when the corpus is
float64 and in float32 otherwise (float16 / bfloat16 / integer rows are widened chunk by chunk).

Metrics (results best first; ties go to the lower index):
    cosine  dot(q, c) / (|q| |c|), higher is better; a zero vector scores 0
    dot     dot(q, c), higher is better
    l2      Euclidean distance |q - c|, lower is better (the score is the distance itself)

Not here: where the vectors come from (handles, lists, text) -- see handlers/tensors.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from worker.errors import InvalidInput
from worker.tensors.types import Metric, SearchHit

# Rows per chunk are chosen so that one widened chunk stays around this size.
_CHUNK_BYTES = 8 << 20


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
    """A query of shape [d] or [1, d] as a 1-D vector; anything else is InvalidInput."""
    if query.ndim == 2 and query.shape[0] == 1:
        return query[0]
    if query.ndim != 1:
        raise InvalidInput(f"the {what} must be one vector of shape [d] or [1, d], not {list(query.shape)}")
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
    scores = np.concatenate(
        [_score_part(q, q_norm, part, metric, dtype, check_cancelled) for part in corpus]
        or [np.empty(0, dtype)]
    )
    return _best(scores, top_k, higher_is_better=metric != "l2")


def _score_part(
    q: np.ndarray,
    q_norm: float,
    part: Rows,
    metric: Metric,
    dtype: np.dtype[np.floating],
    check_cancelled: Callable[[], None] | None,
) -> np.ndarray:
    rows = part.shape[0]
    out = np.empty(rows, dtype=dtype)
    step = max(1, _CHUNK_BYTES // max(1, part.shape[1] * dtype.itemsize))
    for start in range(0, rows, step):
        if check_cancelled is not None:
            check_cancelled()
        chunk = part[start : start + step].astype(dtype, copy=False)
        target = out[start : start + step]
        if metric == "l2":
            diff = chunk - q
            np.sqrt(np.einsum("ij,ij->i", diff, diff), out=target)
        elif metric == "dot":
            np.matmul(chunk, q, out=target)
        else:
            norms = np.sqrt(np.einsum("ij,ij->i", chunk, chunk)) * dtype.type(q_norm)
            dots = chunk @ q
            target[:] = 0
            np.divide(dots, norms, out=target, where=norms != 0)  # NaN rows stay NaN
    return out


def _best(scores: np.ndarray, top_k: int, *, higher_is_better: bool) -> list[SearchHit]:
    n = scores.shape[0]
    k = min(top_k, n)
    if k == 0:
        return []
    # Sort keys: smaller is better; NaN (from NaN or inf in the data) is worst.
    keys = (-scores if higher_is_better else scores).astype(np.float64)
    keys[np.isnan(keys)] = np.inf
    if k < n:
        # Everything that ties with the k-th best is a candidate, so ties resolve by index.
        kth = np.partition(keys, k - 1)[k - 1]
        candidates = np.flatnonzero(keys <= kth)
    else:
        candidates = np.arange(n)
    order = candidates[np.lexsort((candidates, keys[candidates]))][:k]
    return [SearchHit(int(i), float(scores[i])) for i in order]
