"""The tensor messages other modules share, kept free of numpy so that the handler family can be
registered (and ``worker/ready`` sent) without importing numpy or torch."""

from __future__ import annotations

from typing import Literal

import msgspec

Metric = Literal["cosine", "dot", "l2"]


class TensorInfo(msgspec.Struct):
    """What a client may know about a kept tensor. ``handle`` is opaque."""

    handle: str
    dtype: str
    shape: list[int]
    nbytes: int


class SearchHit(msgspec.Struct):
    """One search result: the row's index in the (concatenated) corpus and its score."""

    index: int
    score: float
