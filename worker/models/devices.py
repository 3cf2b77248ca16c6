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
    """A torch dtype. "auto" is float32 on CPU (half precision is slow there) and the dtype the
    model was saved in (float32 when unknown) on an accelerator."""
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


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def device_name(device: Any) -> str:
    return str(device)


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
