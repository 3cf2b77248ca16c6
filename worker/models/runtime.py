"""Import torch and transformers once, on first use, and set them up for life inside the worker.

The worker answers its ready handshake before any of this is imported. Setting up means: torch's
thread pools as ``worker.models.threads`` decided at start-up (``--threads``, one inter-op thread);
transformers' and huggingface_hub's own stderr handlers and progress bars switched off so that their
messages reach the worker's JSON-line log instead.
"""

from __future__ import annotations

import logging
import threading
from types import ModuleType
from typing import Any

from worker.config import Config
from worker.models import threads

_lock = threading.Lock()
_ready = False


def torch(config: Config | None = None) -> ModuleType:
    """The torch module, set up for the worker on the first call (``config`` matters only then)."""
    global _ready
    if not _ready:
        with _lock:
            if not _ready:
                _set_up(config)
                _ready = True
    import torch as torch_module

    return torch_module


def _set_up(config: Config | None) -> None:
    import torch as torch_module

    threads.set_up_torch(torch_module, config)
    import huggingface_hub.utils as hub_utils
    import transformers.utils.logging as tf_logging

    tf_logging.disable_default_handler()
    tf_logging.enable_propagation()
    tf_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    # Importing transformers resets its logger's level; put back what worker.logs chose.
    debug = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    tf_logging.set_verbosity(logging.DEBUG if debug else logging.WARNING)


def intra_op_threads() -> int:
    """The intra-op threads the worker computes with (torch's, and its ONNX Runtime sessions')."""
    return int(torch().get_num_threads())


def no_grad() -> Any:
    """``torch.inference_mode()``: no autograd bookkeeping while serving."""
    return torch().inference_mode()
