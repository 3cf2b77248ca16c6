"""Will a model fit? Estimate its size from its config before allocating anything, and measure it after.

The estimate instantiates the architecture on torch's "meta" device (shapes only, no storage), so a
model far too large for this machine is refused with ResourceExhausted in well under a second
instead of being half-loaded until the kernel's OOM killer ends the whole worker.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from worker.errors import ResourceExhausted
from worker.models import runtime

log = logging.getLogger("worker.models")

# Leave head room for activations, the tokenizer and everything else in the process.
USABLE_FRACTION = 0.9
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def count_parameters(config: Any) -> int | None:
    """Parameters of the architecture ``config`` describes, without allocating them (None if unknown)."""
    torch = runtime.torch()
    import transformers

    candidates = []
    for name in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, name, None)
        if cls is not None:
            candidates.append(cls._from_config)
    candidates.append(transformers.AutoModel.from_config)
    for build in candidates:
        try:
            with torch.device("meta"):
                model = build(config)
        except Exception as exc:  # an architecture we cannot instantiate: try the next way
            log.debug("meta instantiation failed: %s", exc)
            continue
        return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    return None


def weight_file_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and f.suffix in _WEIGHT_SUFFIXES)


def available_bytes(device: Any) -> int | None:
    """Memory free for a new model on ``device`` (None where this cannot be told)."""
    if device.type == "cuda":
        free, _total = runtime.torch().cuda.mem_get_info(device)
        return int(free)
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            return None
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def check_fits(model: str, folder: Path, config: Any, dtype: Any, device: Any) -> int | None:
    """Raise ResourceExhausted if the model's weights cannot fit; return the estimate in bytes."""
    count = count_parameters(config) if config is not None else None
    itemsize = runtime.torch().empty((), dtype=dtype).element_size()
    estimate = count * itemsize if count is not None else weight_file_bytes(folder) or None
    free = available_bytes(device)
    if estimate is not None and free is not None and estimate > free * USABLE_FRACTION:
        raise ResourceExhausted(
            f"model {model!r} needs about {_gib(estimate)} for its weights on {device}, "
            f"but only {_gib(free)} is available",
            data={"estimated_bytes": estimate, "available_bytes": free},
        )
    return estimate


def check_working_memory(what: str, estimate: int, device: Any) -> None:
    """Raise ResourceExhausted if ``estimate`` bytes of working memory (activations of one call, not
    weights) cannot fit in what ``device`` has available now."""
    free = available_bytes(device)
    if free is not None and estimate > free * USABLE_FRACTION:
        raise ResourceExhausted(
            f"{what} needs about {_gib(estimate)} of working memory on {device}, "
            f"but only {_gib(free)} is available",
            data={"estimated_bytes": estimate, "available_bytes": free},
        )


def measure(module: Any) -> tuple[int, int]:
    """(parameter count, bytes held by parameters and buffers) of a loaded torch module."""
    own = getattr(module, "measure", None)
    if callable(own):  # a module that is not torch's (an onnxruntime session's wrapper) counts itself
        return own()  # type: ignore[no-any-return]
    params = list(module.parameters())
    buffers = list(module.buffers())
    count = sum(p.numel() for p in params)
    size = sum(t.numel() * t.element_size() for t in params + buffers)
    return count, size


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
