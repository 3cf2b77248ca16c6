"""How many bytes a decoded model/run input holds in memory, for the per-request bound
(``--max-request-input-bytes``): arrays and tensors by their bytes, images by pixels times bands (four
bytes a band for 32-bit modes), texts by their characters, and containers (a question-answering pair, a
chat) by what they hold. A lower bound where an object hides more, which is fine for a bound on what a
client can make the worker hold: the inputs that can be large are images, audio and tensors."""

from __future__ import annotations

from typing import Any

# Pillow modes whose bands take four bytes each ("I" 32-bit integers, "F" 32-bit floats).
_WIDE_MODES = frozenset({"I", "F", "I;32", "F;32"})


def decoded_bytes(item: Any) -> int:
    if isinstance(item, (str, bytes, bytearray, memoryview)):
        return len(item)
    if isinstance(item, dict):
        return sum(decoded_bytes(value) for value in item.values())
    if isinstance(item, (list, tuple)):
        return sum(decoded_bytes(value) for value in item)
    nbytes = getattr(item, "nbytes", None)  # numpy arrays; torch tensors have it too
    if isinstance(nbytes, int):
        return nbytes
    size, bands = getattr(item, "size", None), getattr(item, "getbands", None)
    if isinstance(size, tuple) and len(size) == 2 and callable(bands):  # a Pillow image
        width, height = size
        per_band = 4 if getattr(item, "mode", "") in _WIDE_MODES else 1
        return int(width) * int(height) * len(bands()) * per_band
    return 0
