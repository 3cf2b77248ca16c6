"""worker.errors: bounded messages, and which exceptions mean that memory ran out."""

from __future__ import annotations

from typing import Any

import pytest

from worker.errors import (
    MAX_MESSAGE_CHARS,
    InvalidParams,
    MethodNotFound,
    ResourceExhausted,
    bounded,
    is_out_of_memory,
    quote,
    shorten,
)
from worker.runtime.dispatch import describe_exception, response_for_exception

# torch's own texts (c10/core/impl/alloc_cpu.cpp, c10/cuda/CUDACachingAllocator.cpp), as raised.
TORCH_CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to "
    "allocate 1125899906842624 bytes. Error code 12 (Cannot allocate memory)"
)
TORCH_CPU_OOM_NOT_ENOUGH = (
    "[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: not enough memory: you tried to allocate "
    "21474836480 bytes."
)
TORCH_CUDA_OOM = (
    "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 139.72 GiB of which "
    "1.12 GiB is free."
)

# ---- shorten, quote, bounded ----------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 1023, 1024])
def test_shorten_keeps_a_text_that_fits(length: int) -> None:
    text = "x" * length
    assert shorten(text) is text


@pytest.mark.parametrize("length", [1025, 5000, 10_000_000])
def test_shorten_keeps_head_and_tail_within_the_limit_and_says_how_long_it_was(length: int) -> None:
    text = "H" * 10 + "m" * (length - 20) + "T" * 10
    short = shorten(text)
    assert len(short) == MAX_MESSAGE_CHARS
    assert short.startswith("H" * 10) and short.endswith("T" * 10)
    assert f"{length} characters" in short


def test_quote_is_much_shorter_and_quotes_non_strings_by_repr() -> None:
    assert len(quote("k" * 1_000_000)) == 128
    assert quote(b"\xff") == "b'\\xff'"


def test_bounded_shortens_strings_at_any_depth_and_keeps_the_rest() -> None:
    long = "s" * 50_000
    value = bounded({"a": long, "b": [1, {"c": long}, (long,)], "d": 2.5, "e": None})
    assert len(value["a"]) == MAX_MESSAGE_CHARS
    assert len(value["b"][1]["c"]) == MAX_MESSAGE_CHARS and len(value["b"][2][0]) == MAX_MESSAGE_CHARS
    assert (value["b"][0], value["d"], value["e"]) == (1, 2.5, None)


def test_every_protocol_error_message_is_bounded_whoever_builds_it() -> None:
    error = MethodNotFound("method not found: " + "m" * 10_000_000)
    assert len(error.message) == MAX_MESSAGE_CHARS and str(error) == error.message
    assert error.message.startswith("method not found: mmm")


def test_error_data_of_an_exception_quoting_ten_megabytes_is_bounded() -> None:
    key = "k" * 10_000_000
    try:
        {}[key]
    except KeyError as exc:
        caught: BaseException = exc
    for debug in (False, True):
        data = describe_exception(caught, debug=debug)
        assert len(data["message"]) <= MAX_MESSAGE_CHARS
        assert len(data.get("traceback", "")) <= 16384
        response = response_for_exception(3, caught, debug=debug)
        assert response.error.code == -32000 and len(response.error.message) <= MAX_MESSAGE_CHARS


def test_an_rpc_errors_own_data_is_bounded_in_the_response() -> None:
    error = InvalidParams("bad", data={"got": "g" * 100_000})
    response = response_for_exception(1, error, debug=False)
    assert len(response.error.data["got"]) == MAX_MESSAGE_CHARS
    assert response.error.data["type"] == "InvalidParams"


# ---- out of memory --------------------------------------------------------------------------


class OutOfMemoryError(RuntimeError):
    """Named as torch's is, for the tests that run without torch."""


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        MemoryError(),
        RuntimeError(TORCH_CPU_OOM),
        RuntimeError(TORCH_CPU_OOM_NOT_ENOUGH),
        RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        OutOfMemoryError(TORCH_CUDA_OOM),
        chained(ValueError("the pipeline failed"), RuntimeError(TORCH_CPU_OOM)),
    ],
    ids=["MemoryError", "cpu", "cpu-not-enough", "cuda-error", "cublas", "cuda-class", "wrapped"],
)
def test_out_of_memory_is_recognised(exc: BaseException) -> None:
    assert is_out_of_memory(exc)
    response = response_for_exception(9, exc, debug=False)
    assert response.error.code == ResourceExhausted.code == -32008
    assert response.error.message.startswith("out of memory")


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("The expanded size of the tensor (5) must match the existing size (3)"),
        ValueError("DefaultCPUAllocator: can't allocate memory"),  # not torch's type: not torch's error
        RecursionError("maximum recursion depth exceeded"),
        OSError(12, "Cannot allocate memory"),
    ],
    ids=["other-runtime-error", "value-error", "recursion", "oserror"],
)
def test_other_errors_are_not_out_of_memory(exc: BaseException) -> None:
    assert not is_out_of_memory(exc)
    assert response_for_exception(9, exc, debug=False).error.code == -32000


def test_a_cause_cycle_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert not is_out_of_memory(a)


def real_torch_errors() -> list[Any]:
    torch = pytest.importorskip("torch")
    errors: list[Any] = []
    try:
        torch.empty(1 << 50, dtype=torch.uint8)  # 1 PiB: past any machine's address space
    except RuntimeError as exc:
        errors.append(exc)
    errors.append(torch.OutOfMemoryError(TORCH_CUDA_OOM))
    errors.append(torch.cuda.OutOfMemoryError(TORCH_CUDA_OOM))
    return errors


def test_torchs_real_out_of_memory_errors_are_answered_32008() -> None:
    errors = real_torch_errors()
    assert len(errors) == 3, "torch allocated 1 PiB"
    for exc in errors:
        response = response_for_exception(4, exc, debug=False)
        assert response.error.code == -32008, exc
        assert response.error.data["type"] in ("RuntimeError", "torch.OutOfMemoryError")
