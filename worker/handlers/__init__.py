"""Handler families, one module per family. ``core`` and ``testing`` are always importable without
torch; the model families import torch and transformers only inside their methods."""

from __future__ import annotations

from collections.abc import Iterable

from worker.runtime.registry import Handlers


def model_families() -> Iterable[Handlers]:
    """The families that serve models and tensors (each imports numpy/torch only inside its methods)."""
    from worker.handlers import export, models, tensors

    yield models.handlers
    yield export.handlers
    yield tensors.handlers
