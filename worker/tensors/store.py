"""The tensor store: arrays kept in the worker between requests, named by opaque handles.

One per worker (``ctx.state.service(TensorStore)``), shared by the tensor methods and by
``model/run`` with ``keep: true``. Thread-safe. Arrays are stored read-only, little-endian and
C-contiguous, so ``tensor/get`` can send their memory as it is and nobody can change a kept tensor
behind another request's back. The store holds the only reference it creates: ``free`` drops it,
so the memory goes back as soon as no request in flight is still reading the array.

Not here: wire validation of params (handlers/tensors.py) and search (search.py).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.errors import InvalidInput, InvalidParams, UnknownHandle
from worker.tensors import dtypes
from worker.tensors.dtypes import WireDtype
from worker.tensors.types import TensorInfo

# Spelled out because the ``list`` method shadows the builtin inside the class.
TensorInfos = list[TensorInfo]

# numpy refuses more than 64 dimensions; nobody needs more than this many.
MAX_DIMS = 32

_HANDLE_PREFIX = "t-"
_HANDLE_RE = re.compile(r"t-([1-9][0-9]*)")


@dataclass(frozen=True)
class StoredTensor:
    info: TensorInfo
    wire: WireDtype
    array: np.ndarray  # read-only, C-contiguous, little-endian storage (bfloat16 as <u2 bits)


class TensorStore:
    def __init__(self, state: Any = None) -> None:
        self._tensors: dict[str, StoredTensor] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._issued = 0  # highest handle number given out; lower absent ones were freed

    # ---- adding ---------------------------------------------------------------------------

    def put_array(self, array: Any, *, dtype: str | None = None, copy: bool = True) -> TensorInfo:
        """Keep a numpy array or torch tensor (any device; converted to CPU, C order, little-endian).

        ``dtype`` names the wire dtype only where the array cannot say it itself: ``"bfloat16"`` for a
        uint16 array of raw bfloat16 bits. With ``copy=True`` the store never shares memory with the
        caller's array; ``copy=False`` lets a caller hand over a fresh array it will not touch again
        (a model output) without a second copy."""
        if dtypes.is_torch_tensor(array):
            source, name = dtypes.from_torch(array)
        elif dtype == "bfloat16":
            source, name = dtypes.bfloat16_bits(np.asarray(array)), "bfloat16"
        else:
            source = np.asarray(array)
            name = dtypes.wire_name_of_numpy(source.dtype)
        if dtype is not None and dtype != name:
            raise InvalidInput(f"cannot keep a {name} tensor as dtype {dtype!r}")
        wire = dtypes.WIRE_DTYPES[name]
        # Same kind and size by now, so this only fixes byte order and memory layout.
        owned = np.ascontiguousarray(source, dtype=wire.storage)
        if copy and np.shares_memory(owned, source):
            owned = owned.copy()
        return self._add(owned, wire)

    def put_bytes(self, data: Any, dtype: str, shape: list[int]) -> TensorInfo:
        """Keep raw little-endian C-order bytes (bytes, bytearray or memoryview) without copying them:
        the array is a read-only view of ``data``, which the caller must not change afterwards."""
        wire = dtypes.lookup(dtype)
        if wire is None:
            raise InvalidParams(f"unknown dtype {dtype!r}; supported dtypes: {dtypes.SUPPORTED}")
        if len(shape) > MAX_DIMS:
            raise InvalidParams(f"shape has {len(shape)} dimensions; at most {MAX_DIMS} are supported")
        if any(d < 0 for d in shape):
            raise InvalidParams(f"shape {shape} has a negative dimension")
        count = math.prod(shape)
        expected = count * wire.itemsize
        view = memoryview(data).cast("B")
        if view.nbytes != expected:
            raise InvalidInput(
                f"data has {view.nbytes} bytes but dtype {dtype} with shape {shape} needs "
                f"{count} x {wire.itemsize} = {expected} bytes"
            )
        try:
            array = np.frombuffer(view, dtype=wire.storage, count=count).reshape(shape)
        except ValueError as exc:  # an empty tensor whose other dimensions overflow numpy's sizes
            raise InvalidParams(f"shape {shape} is too large: {exc}") from None
        return self._add(array, wire)

    def _add(self, array: np.ndarray, wire: WireDtype) -> TensorInfo:
        array.flags.writeable = False
        with self._lock:
            number = next(self._counter)
            self._issued = number
            handle = f"{_HANDLE_PREFIX}{number}"
            info = TensorInfo(handle, wire.name, list(array.shape), int(array.nbytes))
            self._tensors[handle] = StoredTensor(info, wire, array)
        return info

    # ---- reading --------------------------------------------------------------------------

    def get(self, handle: str) -> StoredTensor:
        """The stored tensor, or UnknownHandle saying whether it never existed or was freed."""
        with self._lock:
            found = self._tensors.get(handle)
            issued = self._issued
        if found is None:
            raise UnknownHandle(_unknown_message(handle, issued))
        return found

    def get_array(self, handle: str) -> np.ndarray:
        """The values as a read-only numpy array; bfloat16 comes back widened to float32 (exact).
        Use ``get(handle).array`` for the stored bits themselves."""
        stored = self.get(handle)
        return dtypes.widen(stored.array, stored.wire)

    def get_rows(self, handle: str) -> np.ndarray | dtypes.Bfloat16Rows:
        """The values for reading in slices: the stored array itself, or for bfloat16 a view that
        widens each slice to float32 as it is read."""
        stored = self.get(handle)
        return dtypes.Bfloat16Rows(stored.array) if stored.wire.name == "bfloat16" else stored.array

    def get_torch(self, handle: str) -> Any:
        """The tensor as a torch tensor of its own dtype (bfloat16 included). Imports torch."""
        stored = self.get(handle)
        return dtypes.to_torch(stored.array, stored.wire)

    def info(self, handle: str) -> TensorInfo:
        return self.get(handle).info

    def list(self) -> TensorInfos:
        """Kept tensors, oldest first."""
        with self._lock:
            return [t.info for t in self._tensors.values()]

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(t.info.nbytes for t in self._tensors.values())

    # ---- freeing --------------------------------------------------------------------------

    def free(self, handles: Iterable[str]) -> TensorInfos:
        """Drop tensors. All or nothing: if any handle is unknown or already freed, nothing is freed
        and UnknownHandle names every bad handle. Repeating a handle in one call frees it once."""
        wanted = list(dict.fromkeys(handles))
        with self._lock:
            missing = [h for h in wanted if h not in self._tensors]
            if missing:
                reasons = "; ".join(_unknown_message(h, self._issued) for h in missing)
                raise UnknownHandle(reasons)
            return [self._tensors.pop(h).info for h in wanted]


def _unknown_message(handle: str, issued: int) -> str:
    match = _HANDLE_RE.fullmatch(handle)
    if match is not None and int(match.group(1)) <= issued:
        return f"tensor handle {handle!r} was freed"
    return f"unknown tensor handle {handle!r}"
