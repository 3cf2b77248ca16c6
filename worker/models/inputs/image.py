"""Image inputs: a file path, encoded bytes (png, jpeg, webp, ...) or a kept tensor (an H x W x C or
H x W array), opened with pillow and converted to RGB."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from worker.errors import InvalidInput
from worker.models.inputs.spec import InputObject


def load_image(value: InputObject, tensors: Any, task: str) -> Any:
    from PIL import Image

    kind = value.kind
    if kind == "tensor":
        assert value.tensor is not None
        return _image_from_array(tensors(value.tensor))
    if kind == "path":
        assert value.path is not None
        source: Any = value.path
        what = f"image file {value.path!r}"
    elif kind == "bytes":
        assert value.bytes is not None
        source = io.BytesIO(value.bytes)
        what = f"{len(value.bytes)} bytes of image"
    else:
        raise InvalidInput(f"{task} takes an image (path, bytes or tensor); got an input of shape {kind!r}")
    try:
        with Image.open(source) as opened:
            opened.load()
            return opened.convert("RGB")
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # PIL raises UnidentifiedImageError (an OSError) for unknown data, OSError for truncation.
        raise InvalidInput(f"cannot decode {what}: {exc}") from None


def _image_from_array(array: Any) -> Any:
    from PIL import Image

    pixels = np.asarray(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise InvalidInput(f"an image tensor must be H x W or H x W x 3/4; got shape {list(pixels.shape)}")
    if pixels.dtype.kind == "f":  # floats in [0, 1]
        pixels = (np.clip(pixels, 0.0, 1.0) * 255.0).round()
    if pixels.dtype.kind not in "fiu":
        raise InvalidInput(f"an image tensor must hold numbers, not {pixels.dtype}")
    return Image.fromarray(pixels.astype(np.uint8)).convert("RGB")
