"""Device and dtype choice: what the client asked for, checked against what this machine has."""

from __future__ import annotations

import re
from typing import Any

from worker.errors import InvalidParams
from worker.models import runtime

DTYPES = ("auto", "float32", "float16", "bfloat16")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(name: str) -> Any:
    """A torch.device for "auto", "cpu", "cuda", "cuda:N" or "mps"; InvalidParams if absent here."""
    if not _DEVICE.match(name):
        raise InvalidParams(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    torch = runtime.torch()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if _mps_available(torch):
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidParams(f"device {name!r} requested but CUDA is not available in this worker")
        device = torch.device(name if ":" in name else "cuda:0")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InvalidParams(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return device
    if name == "mps" and not _mps_available(torch):
        raise InvalidParams("device 'mps' requested but MPS is not available in this worker")
    return torch.device(name)


def resolve_dtype(name: str, device: Any, config_dtype: Any = None) -> Any:
    """The torch dtype to load weights in. "auto" is float32 on CPU and the dtype the model was saved
    in (float32 when unknown) on an accelerator; whether it then runs in 16 bits is decided after
    loading, by a check (worker.models.precision)."""
    if name not in DTYPES:
        raise InvalidParams(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    torch = runtime.torch()
    if name != "auto":
        return getattr(torch, name)
    if device.type == "cpu":
        return torch.float32
    if isinstance(config_dtype, str):
        config_dtype = getattr(torch, config_dtype, None)
    if isinstance(config_dtype, torch.dtype) and config_dtype.is_floating_point:
        return config_dtype
    return torch.float32


def native_half(device: Any, native_bf16: str = "auto") -> tuple[Any, str]:
    """(the 16-bit dtype ``device`` computes natively, or None and why not).

    On the CPU that is bfloat16 with AMX or AVX-512 BF16 (elsewhere torch emulates it, slower than
    float32); ``native_bf16`` ("auto", "yes", "no", from --native-bf16) overrides torch's answer. On
    CUDA: bfloat16 where the device computes it (Ampere and later), else float16 on devices with
    tensor cores (compute capability 7.0 and later). Not tested here: the machines have no GPU.
    """
    torch = runtime.torch()
    if device.type == "cpu":
        if native_bf16 == "no":
            return None, "--native-bf16 no: float32 on the CPU"
        if native_bf16 == "yes" or _cpu_computes_bf16(torch):
            return torch.bfloat16, ""
        return None, "this CPU has no native bfloat16 (AMX or AVX-512 BF16)"
    if device.type == "cuda":
        try:
            bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # older torch: no emulation to exclude
            bf16 = torch.cuda.is_bf16_supported()
        if bf16:
            return torch.bfloat16, ""
        if torch.cuda.get_device_capability(device)[0] >= 7:
            return torch.float16, ""
        return None, "this CUDA device has no fast 16-bit floats (compute capability below 7.0)"
    return None, f"no 16-bit check on {device.type}"


def _cpu_computes_bf16(torch: Any) -> bool:
    # Private helpers, present in torch 2.x; a torch without them is taken to have no native bfloat16.
    cpu = getattr(torch, "cpu", None)
    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(cpu, name, None)
        if check is not None and check():
            return True
    return False


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def device_name(device: Any) -> str:
    return str(device)


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
