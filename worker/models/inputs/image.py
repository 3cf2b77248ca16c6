"""Image inputs: a file path, encoded bytes (png, jpeg, webp, ...) or a kept tensor (an H x W x C or
H x W array), opened with pillow and converted to RGB.

Every image, whatever its source, is bounded by ``--max-image-pixels`` (width x height) before its
pixels are allocated: an encoded image by the size in its header (pillow reads it lazily, so
``open`` costs the header only and ``load`` decodes), a tensor by its shape. Over the bound: -32008
with the size and the bound in ``error.data``. Files are read through
``worker.models.inputs.files`` (regular files only, bounded, confined) and decoded from memory.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from worker.errors import InvalidInput, ResourceExhausted
from worker.models.inputs.files import quote, read_input_file
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject


def load_image(value: InputObject, sources: InputSources, task: str) -> Any:
    kind = value.kind
    limit = sources.max_image_pixels
    if kind == "tensor":
        assert value.tensor is not None
        return _image_from_array(sources.tensor(value.tensor), limit)
    if kind == "path":
        assert value.path is not None
        what = f"image file {quote(value.path)}"
        data = read_input_file(value.path, sources.files, "image file")
    elif kind == "bytes":
        assert value.bytes is not None
        what = f"{len(value.bytes)} bytes of image"
        data = value.bytes
    else:
        raise InvalidInput(f"{task} takes an image (path, bytes or tensor); got an input of shape {kind!r}")
    return decode_image(data, what, limit)


def decode_image(data: bytes, what: str, max_pixels: int) -> Any:
    """``data`` (an encoded image) as an RGB pillow image; ResourceExhausted past ``max_pixels``
    without decoding, InvalidInput when it cannot be decoded."""
    from PIL import Image

    _use_bound_in_pillow(max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size  # from the header: nothing is decoded yet
            _check_pixels(what, width, height, max_pixels)
            opened.load()
            return opened.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check, inside open() before the size can be read (over twice the bound, or
        # over it where warnings are errors), or inside a decoder (a TIFF tile, a GIF frame).
        raise _too_many_pixels(what, _pixels_in(str(exc)), max_pixels) from None
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL raises UnidentifiedImageError (an OSError) for unknown data, OSError for truncation.
        raise InvalidInput(f"cannot decode {what}: {exc}") from None


def _use_bound_in_pillow(max_pixels: int) -> None:
    # Pillow has one process-wide bound, MAX_IMAGE_PIXELS (89.5 M pixels by default: it warns above
    # it and raises above twice it). The worker sets it to its own bound, so that the checks pillow
    # makes inside decoders (TIFF tiles, GIF frames) use the operator's number, not a second one
    # that would refuse images --max-image-pixels allows. Nothing else in the worker decodes images,
    # and there is one configuration per process, so the value is the same every time.
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS != max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _check_pixels(what: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise _too_many_pixels(what, width * height, max_pixels, width=width, height=height)


def _too_many_pixels(what: str, pixels: int | None, max_pixels: int, **size: int) -> ResourceExhausted:
    if size:
        shown = f"{size['width']}x{size['height']} = {pixels} pixels"
    else:
        shown = f"{pixels or 'too many'} pixels"
    return ResourceExhausted(
        f"{what} has {shown}, over the limit of {max_pixels} (--max-image-pixels)",
        data={**size, "pixels": pixels, "max_image_pixels": max_pixels},
    )


def _pixels_in(pillow_message: str) -> int | None:
    # "Image size (338000000 pixels) exceeds limit of ..."
    found = re.search(r"\((\d+) pixels\)", pillow_message)
    return int(found.group(1)) if found else None


def _image_from_array(array: Any, max_pixels: int) -> Any:
    from PIL import Image

    pixels = np.asarray(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise InvalidInput(f"an image tensor must be H x W or H x W x 3/4; got shape {list(pixels.shape)}")
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    if height == 0 or width == 0:
        raise InvalidInput(f"an image tensor must have pixels; got shape {list(pixels.shape)}")
    # Converting allocates uint8 and RGB copies: bound it like a decoded file.
    _check_pixels("the image tensor", width, height, max_pixels)
    if pixels.dtype.kind not in "fiu":
        raise InvalidInput(f"an image tensor must hold numbers, not {pixels.dtype}")
    if pixels.dtype.kind == "f":  # floats in [0, 1]; NaN or infinity is no colour at all
        if not np.isfinite(pixels).all():
            raise InvalidInput("an image tensor of floats must hold finite values (0 to 1)")
        pixels = (np.clip(pixels, 0.0, 1.0) * 255.0).round()
    elif pixels.dtype != np.uint8 and (pixels.min() < 0 or pixels.max() > 255):
        # A cast would wrap them (-1 becomes 255): refused rather than shown as other colours.
        raise InvalidInput("an image tensor of integers must hold values from 0 to 255")
    return Image.fromarray(pixels.astype(np.uint8)).convert("RGB")
