"""Wire dtype names and how each one is stored.

The protocol names element types with the strings in ``WIRE_DTYPES``; bytes on the wire are always
little-endian. Every dtype is stored as a little-endian numpy array. numpy has no bfloat16, so a
bfloat16 tensor is stored as its raw 16-bit patterns in a ``<u2`` array and only the wire name says
what they mean; that keeps ``tensor/get`` byte-exact without importing torch. torch is imported only
by the helpers that convert to and from torch tensors, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.errors import InvalidInput


@dataclass(frozen=True)
class WireDtype:
    name: str
    storage: np.dtype[Any]  # little-endian numpy dtype the elements are kept in
    torch_name: str  # attribute of the torch module

    @property
    def itemsize(self) -> int:
        return self.storage.itemsize


def _wire(name: str, storage: str, torch_name: str | None = None) -> WireDtype:
    return WireDtype(name, np.dtype(storage), torch_name or name)


WIRE_DTYPES: dict[str, WireDtype] = {
    d.name: d
    for d in (
        _wire("float32", "<f4"),
        _wire("float16", "<f2"),
        _wire("bfloat16", "<u2"),
        _wire("float64", "<f8"),
        _wire("int8", "i1"),
        _wire("uint8", "u1"),
        _wire("int16", "<i2"),
        _wire("int32", "<i4"),
        _wire("int64", "<i8"),
        _wire("bool", "?"),
    )
}

SUPPORTED = ", ".join(WIRE_DTYPES)

# numpy dtype kind+size -> wire name, for arrays handed to the store by other handlers.
# uint16 is deliberately absent: a <u2 array is only ever bfloat16 storage, named explicitly.
_BY_NUMPY: dict[tuple[str, int], str] = {
    (d.storage.kind, d.storage.itemsize): d.name for d in WIRE_DTYPES.values() if d.name != "bfloat16"
}


def lookup(name: str) -> WireDtype | None:
    return WIRE_DTYPES.get(name)


def wire_name_of_numpy(dtype: np.dtype[Any]) -> str:
    """The wire name for a numpy dtype, or InvalidInput if the protocol cannot carry it."""
    found = _BY_NUMPY.get((dtype.kind, dtype.itemsize))
    if found is None:
        raise InvalidInput(f"a tensor of numpy dtype {dtype} cannot be kept; supported dtypes: {SUPPORTED}")
    return found


def is_torch_tensor(value: Any) -> bool:
    # Checked by module name so that numpy callers never import torch.
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def from_torch(tensor: Any) -> tuple[np.ndarray, str]:
    """A torch tensor as (little-endian numpy storage array, wire name). Copies only when it must
    (device transfer, non-contiguous memory, bfloat16 reinterpretation is free)."""
    import torch  # only reached with a torch tensor in hand

    t = tensor.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view("<u2"), "bfloat16"
    array = t.numpy()
    return array, wire_name_of_numpy(array.dtype)


def bfloat16_bits(array: np.ndarray) -> np.ndarray:
    """A 16-bit integer array holding raw bfloat16 patterns, as little-endian ``<u2`` (no value casts)."""
    if array.dtype.kind not in "ui" or array.dtype.itemsize != 2:
        raise InvalidInput(f"bfloat16 bits must come as a 16-bit integer array, not {array.dtype}")
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).view("<u2")


def to_torch(array: np.ndarray, wire: WireDtype) -> Any:
    """A torch tensor sharing memory with a stored array (read-only arrays are copied by torch)."""
    import torch

    if wire.name == "bfloat16":
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy() if not array.flags.writeable else array)


class Bfloat16Rows:
    """A stored bfloat16 tensor that widens to float32 one slice at a time, for readers that go
    through it in chunks (search), so a large bfloat16 corpus is never widened whole."""

    dtype = np.dtype("<f4")

    def __init__(self, bits: np.ndarray) -> None:
        self.bits = bits
        self.shape = bits.shape
        self.ndim = bits.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return widen(self.bits[key], WIRE_DTYPES["bfloat16"])


def widen(array: np.ndarray, wire: WireDtype) -> np.ndarray:
    """The values as a numpy array numpy can compute with: bfloat16 becomes float32 (exactly: a
    bfloat16 is the top half of a float32), everything else is returned as is."""
    if wire.name != "bfloat16":
        return array
    widened = np.empty(array.shape, dtype="<u4")
    np.left_shift(array, 16, out=widened, dtype="<u4")
    return widened.view("<f4")
