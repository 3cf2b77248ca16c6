"""The tensor store: arrays kept in the worker between requests, named by opaque handles.

One per worker (``ctx.state.service(TensorStore)``), shared by the tensor methods and by
``model/run`` with ``keep: true``. Thread-safe. Arrays are stored read-only, little-endian and
C-contiguous, so ``tensor/get`` can send their memory as it is and nobody can change a kept tensor
behind another request's back. The store holds the only reference it creates: ``free`` drops it,
so the memory goes back as soon as no request in flight is still reading the array.

The bytes kept are bounded by a budget (``--max-tensor-bytes``, default in budget.py). Every put
reserves its size before it allocates or copies anything, so a put past the budget is refused with
ResourceExhausted (-32008) and nothing changes; reservations also keep two concurrent puts from
both fitting in the same room.

Not here: wire validation of params (handlers/tensors.py) and search (search.py).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.errors import InvalidInput, InvalidParams, ResourceExhausted, UnknownHandle
from worker.tensors import budget, dtypes
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
    def __init__(self, state: Any = None, *, budget_bytes: int | None = None) -> None:
        """``budget_bytes`` overrides the worker's ``--max-tensor-bytes`` (for tests)."""
        if budget_bytes is None:
            configured = getattr(getattr(state, "config", None), "max_tensor_bytes", None)
            budget_bytes = budget.tensor_budget_bytes(configured)
        self.budget_bytes = budget_bytes
        self._tensors: dict[str, StoredTensor] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._issued = 0  # highest handle number given out; lower absent ones were freed
        self._kept = 0  # bytes of the tensors in _tensors
        self._reserved = 0  # bytes promised to puts under way

    # ---- the budget -----------------------------------------------------------------------

    @property
    def used_bytes(self) -> int:
        """Bytes kept, plus bytes reserved by puts under way."""
        with self._lock:
            return self._kept + self._reserved

    def check_room(self, requested: int) -> None:
        """ResourceExhausted if ``requested`` more bytes would not fit now (reserves nothing)."""
        with self._lock:
            self._refuse_past_budget(requested)

    @contextmanager
    def _reserving(self, requested: int) -> Iterator[None]:
        """Hold ``requested`` bytes of the budget while a put converts its data. ``_add_all`` turns
        the reservation into kept bytes; a put that fails before that gives it back here."""
        with self._lock:
            self._refuse_past_budget(requested)
            self._reserved += requested
        try:
            yield
        except BaseException:
            with self._lock:
                self._reserved -= requested
            raise

    def _refuse_past_budget(self, requested: int) -> None:
        used = self._kept + self._reserved
        if used + requested > self.budget_bytes:
            raise ResourceExhausted(
                f"keeping {requested} more bytes of tensors would pass the budget of "
                f"{self.budget_bytes} bytes (--max-tensor-bytes): {used} bytes are kept; "
                "free tensors with tensor/free first",
                data={"budget_bytes": self.budget_bytes, "used_bytes": used, "requested_bytes": requested},
            )

    # ---- adding ---------------------------------------------------------------------------

    def put_array(self, array: Any, *, dtype: str | None = None, copy: bool = True) -> TensorInfo:
        """Keep a numpy array or torch tensor (any device; converted to CPU, C order, little-endian).

        ``dtype`` names the wire dtype only where the array cannot say it itself: ``"bfloat16"`` for a
        uint16 array of raw bfloat16 bits. With ``copy=True`` the store never shares memory with the
        caller's array; ``copy=False`` lets a caller hand over a fresh array it will not touch again
        (a model output) without a second copy."""
        return self.put_arrays([array], dtype=dtype, copy=copy)[0]

    def put_arrays(
        self, arrays: Iterable[Any], *, dtype: str | None = None, copy: bool = True
    ) -> TensorInfos:
        """Keep several arrays as ``put_array`` does, all or nothing: their total size is checked
        against the budget before any is converted, and a failure keeps none of them."""
        arrays = list(arrays)
        requested = sum(_nbytes(a) for a in arrays)
        with self._reserving(requested):
            converted = [self._convert(a, dtype, copy) for a in arrays]
            return self._add_all(converted, requested)

    def _convert(self, array: Any, dtype: str | None, copy: bool) -> tuple[np.ndarray, WireDtype]:
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
        return owned, wire

    def put_bytes(self, data: Any, dtype: str, shape: list[int]) -> TensorInfo:
        """Keep raw little-endian C-order bytes (bytes, bytearray or memoryview) without copying them
        when they are all of their buffer: the array is then a read-only view of ``data``, which the
        caller must not change afterwards. Bytes that are a small part of a larger buffer (a request
        frame padded with other members) are copied, so what is kept is what the budget counts."""
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
        with self._reserving(expected):
            if _pins_more_than(view, expected):
                # A view into a larger buffer (the whole request frame) would keep all of it alive
                # while only ``expected`` bytes count against the budget: keep a copy instead.
                view = memoryview(bytes(view))
            try:
                array = np.frombuffer(view, dtype=wire.storage, count=count).reshape(shape)
            except ValueError as exc:  # an empty tensor whose other dimensions overflow numpy's sizes
                raise InvalidParams(f"shape {shape} is too large: {exc}") from None
            return self._add_all([(array, wire)], expected)[0]

    def _add_all(self, arrays: list[tuple[np.ndarray, WireDtype]], reserved: int) -> TensorInfos:
        """Store converted arrays, inside ``_reserving(reserved)``: their bytes move from reserved
        to kept in one step (conversion keeps the size, so the two amounts match)."""
        for array, _wire in arrays:
            array.flags.writeable = False
        infos = []
        with self._lock:
            for array, wire in arrays:
                number = next(self._counter)
                self._issued = number
                handle = f"{_HANDLE_PREFIX}{number}"
                info = TensorInfo(handle, wire.name, list(array.shape), int(array.nbytes))
                self._tensors[handle] = StoredTensor(info, wire, array)
                self._kept += info.nbytes
                infos.append(info)
            self._reserved -= reserved
        return infos

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
        """Bytes of the tensors kept now."""
        with self._lock:
            return self._kept

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
            freed = [self._tensors.pop(h).info for h in wanted]
            self._kept -= sum(info.nbytes for info in freed)
            return freed


def _nbytes(array: Any) -> int:
    """Bytes ``array`` takes once kept (the same as now: conversion keeps the element size), told
    without converting or copying it."""
    if dtypes.is_torch_tensor(array):
        return int(array.numel()) * int(array.element_size())
    return int(np.asarray(array).nbytes)


def _unknown_message(handle: str, issued: int) -> str:
    match = _HANDLE_RE.fullmatch(handle)
    if match is not None and int(match.group(1)) <= issued:
        return f"tensor handle {handle!r} was freed"
    return f"unknown tensor handle {handle!r}"


# A view may pin this much more than its own bytes (the frame's envelope and other params) before
# the bytes are copied out of it.
_PIN_SLACK_BYTES = 64 * 1024


def _pins_more_than(view: memoryview, nbytes: int) -> bool:
    """Whether keeping ``view`` keeps alive a buffer much larger than the ``nbytes`` it shows."""
    owner = view.obj
    try:
        owner_bytes = memoryview(owner).nbytes if not isinstance(owner, memoryview) else owner.nbytes
    except TypeError:  # an owner that is not a buffer: nothing more is pinned than the view
        return False
    return owner_bytes - nbytes > _PIN_SLACK_BYTES
