"""The Python side of the pythonnet contender: what its .NET process calls inside the CPython it
embeds (see InProcessPython.cs). The same model code as the in-process baseline, so that the only
difference measured is the crossing between .NET and Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.baselines.inprocess import MeanPoolEmbedder


def ping() -> str:
    """The no-op call: a Python function returning a short string, like worker/ping's answer."""
    return "pong"


def fail() -> None:
    """An ordinary Python error: pythonnet turns it into a catchable PythonException."""
    raise ValueError("an ordinary Python error, raised on purpose")


def crash_native() -> None:
    """What a bug in a native extension does: read address 0. In a worker this ends the worker."""
    import ctypes

    ctypes.string_at(0)


class Embeddings:
    def __init__(self, threads: int) -> None:
        self._embedder = MeanPoolEmbedder(threads)
        self.dimension: int = self._embedder.model.config.hidden_size

    def embed(self, sentences: list[str]) -> Any:
        """Unit vectors, row after row, in one flat float32 array (len(sentences) * dimension) that
        .NET copies out through the buffer protocol (pythonnet reads one-dimensional buffers only)."""
        return np.ascontiguousarray(self._embedder.embed(sentences).numpy(), dtype=np.float32).reshape(-1)
