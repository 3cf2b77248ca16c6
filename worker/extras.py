"""Which optional extra of the hf-worker package brings which module.

``pip install hf-worker`` is the lean core (the protocol, the test methods, tensors). A method that needs an
extra that is not installed must say so, not fail with a bare ModuleNotFoundError: ``missing_extra`` turns
one into UnsupportedTask (-32009) naming the extra and the pip command. ``hf-worker doctor`` reports the same
packages. Nothing here imports them.
"""

from __future__ import annotations

import importlib.util

from worker.errors import UnsupportedTask

# extra -> the top-level modules it installs that the worker imports.
EXTRAS: dict[str, tuple[str, ...]] = {
    "models": ("torch", "transformers", "huggingface_hub", "librosa", "soundfile", "PIL", "sentencepiece"),
    "images": ("diffusers",),
    "onnx": ("onnxruntime", "onnx"),
}
_EXTRA_OF = {module: extra for extra, modules in EXTRAS.items() for module in modules}


def missing_extra(exc: BaseException) -> UnsupportedTask | None:
    """UnsupportedTask naming the extra to install when ``exc`` (or what caused it) is the import of a
    module that an extra brings and that is not installed; None for any other exception."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            top = current.name.partition(".")[0]
            extra = _EXTRA_OF.get(top)
            # A module that is there after all failed to import for another reason: not ours to explain.
            if extra is not None and importlib.util.find_spec(top) is None:
                return UnsupportedTask(
                    f"this needs hf-worker's {extra!r} extra, which is not installed in this worker "
                    f"({top} is missing): pip install 'hf-worker[{extra}]'",
                    data={"extra": extra, "missing": top},
                )
        current = current.__cause__ or current.__context__
    return None
