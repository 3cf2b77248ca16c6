"""TensorStore: byte-exact storage of every wire dtype, validation, handles, accounting, release."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest

from worker.errors import InvalidInput, InvalidParams, ResourceExhausted, UnknownHandle
from worker.tensors.dtypes import WIRE_DTYPES
from worker.tensors.store import TensorStore

NUMPY_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "float64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


def random_bytes(dtype: str, shape: list[int], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) * WIRE_DTYPES[dtype].itemsize
    raw = rng.integers(0, 256, size=n, dtype=np.uint8)
    if dtype == "bool":
        raw = raw & 1  # only 0 and 1 are valid bools
    return raw.tobytes()


def test_the_wire_dtypes_are_the_documented_ten() -> None:
    assert list(WIRE_DTYPES) == [
        "float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"
    ]  # fmt: skip


@pytest.mark.parametrize("dtype", list(WIRE_DTYPES))
def test_put_bytes_keeps_the_exact_bytes_and_values_of_every_dtype(dtype: str) -> None:
    store = TensorStore()
    data = random_bytes(dtype, [3, 5])
    info = store.put_bytes(data, dtype, [3, 5])
    assert (info.dtype, info.shape, info.nbytes) == (dtype, [3, 5], len(data))
    stored = store.get(info.handle)
    assert stored.array.tobytes() == data
    assert not stored.array.flags.writeable
    values = store.get_array(info.handle)
    if dtype == "bfloat16":
        # The top 16 bits of a float32 are a bfloat16: the widened values are exact.
        expected = (np.frombuffer(data, "<u2").astype("<u4") << 16).view("<f4").reshape(3, 5)
        np.testing.assert_array_equal(values, expected)
    else:
        np.testing.assert_array_equal(values, np.frombuffer(data, NUMPY_DTYPES[dtype]).reshape(3, 5))


def test_put_bytes_does_not_copy_the_received_buffer() -> None:
    store = TensorStore()
    buffer = bytearray(np.arange(8, dtype="<f4").tobytes())
    info = store.put_bytes(memoryview(buffer), "float32", [2, 4])
    assert np.shares_memory(store.get(info.handle).array, np.frombuffer(buffer, np.uint8))


def test_put_bytes_copies_a_small_part_of_a_large_buffer_so_the_budget_counts_what_is_kept() -> None:
    # The bytes of a tensor/put are a view into the whole request frame: keeping the view would keep
    # a frame padded with megabytes of other members alive while the budget counts 4 bytes.
    frame = bytearray(b"\0" * (1 << 20))
    frame[100:104] = np.float32(3.5).tobytes()
    store = TensorStore(budget_bytes=4096)
    info = store.put_bytes(memoryview(frame)[100:104], "float32", [1])
    kept = store.get(info.handle).array
    assert not np.shares_memory(kept, np.frombuffer(frame, np.uint8))
    frame[100:104] = b"\xff" * 4
    assert kept.tolist() == [3.5]


def test_scalars_and_empty_tensors_are_fine() -> None:
    store = TensorStore()
    scalar = store.put_bytes(np.float64(2.5).tobytes(), "float64", [])
    assert store.get_array(scalar.handle).shape == ()
    assert float(store.get_array(scalar.handle)) == 2.5
    empty = store.put_bytes(b"", "int32", [0, 7])
    assert (store.get_array(empty.handle).shape, empty.nbytes) == ((0, 7), 0)


def test_unknown_dtype_is_invalid_params_listing_the_supported_ones() -> None:
    with pytest.raises(InvalidParams, match=r"unknown dtype 'complex64'.*float32.*bfloat16.*bool"):
        TensorStore().put_bytes(b"\0" * 8, "complex64", [1])


def test_negative_dimension_is_invalid_params() -> None:
    with pytest.raises(InvalidParams, match="negative dimension"):
        TensorStore().put_bytes(b"", "float32", [2, -1])


@pytest.mark.parametrize(
    ("shape", "message"),
    [([0] * 33, "33 dimensions"), ([0, 2**62, 4], r"shape \[0, 4611686018427387904, 4\] is too large")],
)
def test_shapes_numpy_cannot_hold_are_invalid_params(shape: list[int], message: str) -> None:
    with pytest.raises(InvalidParams, match=message):
        TensorStore().put_bytes(b"", "float64", shape)


def test_byte_count_mismatch_is_invalid_input_with_both_numbers() -> None:
    with pytest.raises(InvalidInput) as caught:
        TensorStore().put_bytes(b"\0" * 10, "float32", [2, 2])
    assert "10 bytes" in caught.value.message and "16 bytes" in caught.value.message


def test_handles_are_distinct_and_unknown_or_freed_ones_say_which() -> None:
    store = TensorStore()
    a = store.put_bytes(b"\1", "uint8", [1])
    b = store.put_bytes(b"\2", "uint8", [1])
    assert a.handle != b.handle
    store.free([a.handle])
    with pytest.raises(UnknownHandle, match=f"'{a.handle}' was freed"):
        store.get(a.handle)
    with pytest.raises(UnknownHandle, match="unknown tensor handle 'nope'"):
        store.get_array("nope")
    with pytest.raises(UnknownHandle, match="unknown tensor handle 't-99'"):
        store.get("t-99")
    assert store.get_array(b.handle).tolist() == [2]


def test_free_is_all_or_nothing_and_names_every_bad_handle() -> None:
    store = TensorStore()
    a = store.put_bytes(b"\1", "uint8", [1])
    b = store.put_bytes(b"\2", "uint8", [1])
    store.free([b.handle])
    with pytest.raises(UnknownHandle) as caught:
        store.free([a.handle, b.handle, "bogus"])
    assert f"'{b.handle}' was freed" in caught.value.message and "'bogus'" in caught.value.message
    assert [t.handle for t in store.list()] == [a.handle]  # nothing was freed
    assert [t.handle for t in store.free([a.handle, a.handle])] == [a.handle]
    assert store.list() == []


def test_list_and_total_account_for_every_byte() -> None:
    store = TensorStore()
    infos = [store.put_bytes(b"\0" * (4 * n), "float32", [n]) for n in (1, 10, 100)]
    assert store.list() == infos
    assert store.total_bytes == 4 * 111
    store.free([infos[1].handle])
    assert [t.nbytes for t in store.list()] == [4, 400]
    assert store.total_bytes == 404


def test_free_releases_the_array_and_the_received_buffer() -> None:
    class Buffer(bytearray):  # a bytearray that can be weakly referenced
        pass

    store = TensorStore()
    buffer = Buffer(1 << 20)
    info = store.put_bytes(memoryview(buffer), "float32", [1 << 18])
    array_ref = weakref.ref(store.get(info.handle).array)
    buffer_ref = weakref.ref(buffer)
    del buffer
    gc.collect()
    assert array_ref() is not None and buffer_ref() is not None
    store.free([info.handle])
    gc.collect()
    assert array_ref() is None
    assert buffer_ref() is None


def test_put_array_copies_unless_told_the_array_is_handed_over() -> None:
    store = TensorStore()
    source = np.arange(6, dtype=np.float32).reshape(2, 3)
    kept = store.put_array(source)
    source[0, 0] = 99
    assert store.get_array(kept.handle)[0, 0] == 0
    handed = store.put_array(source, copy=False)
    assert np.shares_memory(store.get(handed.handle).array, source)


def test_put_array_stores_little_endian_c_order() -> None:
    store = TensorStore()
    source = np.arange(6, dtype=">i4").reshape(2, 3).T  # big-endian and not C-contiguous
    info = store.put_array(source)
    assert (info.dtype, info.shape) == ("int32", [3, 2])
    assert store.get(info.handle).array.tobytes() == np.ascontiguousarray(source, "<i4").tobytes()


def test_put_array_refuses_dtypes_the_protocol_cannot_carry() -> None:
    store = TensorStore()
    with pytest.raises(InvalidInput, match="uint32 cannot be kept"):
        store.put_array(np.zeros(2, np.uint32))
    with pytest.raises(InvalidInput, match="16-bit integer array"):
        store.put_array(np.zeros(2, np.float16), dtype="bfloat16")
    with pytest.raises(InvalidInput, match="as dtype 'float32'"):
        store.put_array(np.zeros(2, np.float16), dtype="float32")


def test_put_array_accepts_raw_bfloat16_bits() -> None:
    store = TensorStore()
    bits = np.array([0x3F80, 0xC000], dtype=np.uint16)  # 1.0 and -2.0
    info = store.put_array(bits, dtype="bfloat16")
    assert info.dtype == "bfloat16"
    assert store.get_array(info.handle).tolist() == [1.0, -2.0]


def test_torch_tensors_round_trip_bfloat16_included() -> None:
    torch = pytest.importorskip("torch")
    store = TensorStore()
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.int64, torch.bool):
        tensor = (torch.randn(4, 3) * 10).to(dtype)
        info = store.put_array(tensor.t())  # transposed: not contiguous
        assert info.shape == [3, 4]
        back = store.get_torch(info.handle)
        assert back.dtype == dtype and torch.equal(back, tensor.t())
    bf16 = torch.tensor([1.5, -3.0], dtype=torch.bfloat16)
    info = store.put_array(bf16)
    assert store.get(info.handle).array.tobytes() == bf16.view(torch.int16).numpy().tobytes()


def test_concurrent_puts_get_unique_handles() -> None:
    store = TensorStore()
    handles: list[str] = []
    lock = threading.Lock()

    def put_many() -> None:
        for _ in range(200):
            h = store.put_bytes(b"\0", "uint8", [1]).handle
            with lock:
                handles.append(h)

    threads = [threading.Thread(target=put_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(handles)) == 800 == len(store.list())


def test_the_tensor_family_registers_without_numpy_or_torch() -> None:
    code = (
        "import sys, worker.handlers.tensors; "
        "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- the budget (--max-tensor-bytes) ----------------------------------------------------------


def test_a_put_past_the_budget_is_refused_with_the_budget_usage_and_request_and_changes_nothing() -> None:
    store = TensorStore(budget_bytes=100)
    store.put_bytes(b"\0" * 60, "uint8", [60])
    with pytest.raises(ResourceExhausted, match="--max-tensor-bytes") as refused:
        store.put_bytes(b"\0" * 41, "uint8", [41])
    assert refused.value.data == {"budget_bytes": 100, "used_bytes": 60, "requested_bytes": 41}
    assert store.total_bytes == store.used_bytes == 60 and len(store.list()) == 1
    assert store.put_bytes(b"\0" * 40, "uint8", [40]).nbytes == 40  # exactly full is allowed
    assert store.total_bytes == 100


def test_freeing_gives_the_budget_back() -> None:
    store = TensorStore(budget_bytes=64)
    first = store.put_array(np.zeros(8, np.float64))
    with pytest.raises(ResourceExhausted):
        store.put_array(np.zeros(1, np.uint8))
    store.free([first.handle])
    assert store.total_bytes == 0
    assert store.put_array(np.zeros(8, np.float64)).nbytes == 64


def test_put_arrays_is_all_or_nothing_against_the_budget() -> None:
    store = TensorStore(budget_bytes=100)
    with pytest.raises(ResourceExhausted) as refused:
        store.put_arrays([np.zeros(10, np.float32), np.zeros(16, np.float32)])
    assert refused.value.data is not None and refused.value.data["requested_bytes"] == 104
    assert store.list() == [] and store.used_bytes == 0
    infos = store.put_arrays([np.zeros(10, np.float32), np.zeros(15, np.float32)])
    assert [i.nbytes for i in infos] == [40, 60] and store.total_bytes == 100


def test_a_put_that_fails_for_another_reason_gives_its_reservation_back() -> None:
    store = TensorStore(budget_bytes=100)
    with pytest.raises(InvalidInput):
        store.put_array(np.zeros(10, np.float16), dtype="float32")
    with pytest.raises(InvalidParams):
        store.put_bytes(b"", "float32", [0, 1 << 62, 1 << 62])
    assert store.used_bytes == 0
    store.check_room(100)


def test_concurrent_puts_never_pass_the_budget_together() -> None:
    store = TensorStore(budget_bytes=1000)
    refusals: list[ResourceExhausted] = []
    lock = threading.Lock()

    def put_many() -> None:
        for _ in range(100):
            try:
                store.put_bytes(b"\0" * 10, "uint8", [10])
            except ResourceExhausted as exc:
                with lock:
                    refusals.append(exc)

    threads = [threading.Thread(target=put_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.total_bytes == 1000 == sum(i.nbytes for i in store.list())
    assert len(refusals) == 300 and store.used_bytes == 1000


def test_the_budget_comes_from_the_config_or_the_machine() -> None:
    from worker.config import Config
    from worker.runtime.state import WorkerState
    from worker.tensors import budget

    assert TensorStore(WorkerState(Config(max_tensor_bytes=12345))).budget_bytes == 12345
    assert TensorStore(WorkerState(Config())).budget_bytes == budget.default_budget_bytes()
