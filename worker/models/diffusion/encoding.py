"""Generated images out of the worker: encoded bytes (png, jpeg, webp) or uint8 ``[height, width, 3]``
arrays for ``keep: true``."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

# jpeg and webp are lossy: 90 keeps generated detail at a fraction of PNG's size.
LOSSY_QUALITY = 90
_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def encode(image: Any, image_format: str) -> bytes:
    """A pillow RGB image as bytes in ``image_format``."""
    buffer = io.BytesIO()
    options: dict[str, Any] = {} if image_format == "png" else {"quality": LOSSY_QUALITY}
    image.save(buffer, format=_PILLOW_FORMATS[image_format], **options)
    return buffer.getvalue()


def as_array(image: Any) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
