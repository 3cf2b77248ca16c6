"""What a model/run input may draw on besides the request itself, and the operator's bounds on it:
kept tensors (``{"tensor": handle}``), files (``{"path": ...}``, under ``--input-root`` and
``--max-input-bytes``), the largest image (``--max-image-pixels``) and all of a request's inputs
decoded (``--max-request-input-bytes``, checked by worker.models.running).

Built once per run from the worker's Config (``for_state``) and handed to each task's
``load_input``; decoders never read the configuration or the environment themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.config import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_REQUEST_INPUT_BYTES
from worker.models.inputs.files import FilePolicy

# Turns a tensor handle into its array (the TensorStore's get_array).
TensorLookup = Callable[[str], Any]


def _no_tensors(handle: str) -> Any:
    raise AssertionError("these inputs never name tensors")


@dataclass(frozen=True)
class InputSources:
    tensor: TensorLookup = _no_tensors
    files: FilePolicy = field(default_factory=FilePolicy)
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_request_input_bytes: int = DEFAULT_MAX_REQUEST_INPUT_BYTES

    @classmethod
    def for_state(cls, state: Any) -> InputSources:
        """The sources of a run in the worker whose WorkerState is ``state``."""

        def tensor(handle: str) -> Any:
            from worker.tensors.store import TensorStore

            return state.service(TensorStore).get_array(handle)

        config = state.config
        return cls(
            tensor=tensor,
            files=FilePolicy.from_config(config),
            max_image_pixels=int(config.max_image_pixels),
            max_request_input_bytes=int(config.max_request_input_bytes),
        )


# For callers whose inputs are text only (tensor/search's text queries).
TEXT_ONLY = InputSources()
