"""The run parameters of the image tasks and their documented bounds (protocol.md, "Image generation").

Bounds are checked before anything runs: -32602 for a value out of range, -32008 for a size over
``--max-image-pixels``. Which parameters a task takes (``prompt``, ``strength``, ``mask``) is checked
by the task.
"""

from __future__ import annotations

import math
from typing import Literal

from worker.errors import InvalidParams, ResourceExhausted
from worker.models.inputs.spec import InputObject
from worker.models.tasks.base import TaskParameters

MAX_STEPS = 500
MAX_GUIDANCE = 100.0
# Images of one request (inputs x num_images), and of one coalesced pipeline call.
MAX_IMAGES = 8
MAX_SEED = 2**63 - 1
SIZE_MULTIPLE = 8

ImageFormat = Literal["png", "jpeg", "webp"]


class ImageParameters(TaskParameters):
    prompt: str | None = None
    negative_prompt: str | None = None
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    num_images: int = 1
    strength: float | None = None
    mask: InputObject | None = None
    scheduler: str | None = None
    format: ImageFormat = "png"
    preview_every: int | None = None


def check_bounds(params: ImageParameters, inputs: int, max_image_pixels: int) -> None:
    steps = params.num_inference_steps
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise InvalidParams(f"num_inference_steps must be 1 to {MAX_STEPS}, got {steps}")
    guidance = params.guidance_scale
    if guidance is not None and not (math.isfinite(guidance) and 0 <= guidance <= MAX_GUIDANCE):
        raise InvalidParams(f"guidance_scale must be 0 to {MAX_GUIDANCE:g}, got {guidance}")
    if not 1 <= params.num_images <= MAX_IMAGES:
        raise InvalidParams(f"num_images must be 1 to {MAX_IMAGES}, got {params.num_images}")
    if inputs * params.num_images > MAX_IMAGES:
        raise InvalidParams(
            f"a request makes at most {MAX_IMAGES} images; {inputs} inputs x num_images "
            f"{params.num_images} is {inputs * params.num_images}"
        )
    if params.seed is not None and not 0 <= params.seed <= MAX_SEED:
        raise InvalidParams(f"seed must be 0 to 2^63 - 1, got {params.seed}")
    last_seed = (params.seed or 0) + inputs * params.num_images - 1
    if last_seed > MAX_SEED:
        # Image k is seeded seed + k, and every seed returned must fit a signed 64-bit integer.
        raise InvalidParams(
            f"seed + the number of images - 1 must be at most 2^63 - 1 (image k is seeded seed + k); "
            f"got seed {params.seed} for {inputs * params.num_images} images"
        )
    strength = params.strength
    if strength is not None and not (math.isfinite(strength) and 0 < strength <= 1):
        raise InvalidParams(f"strength must be above 0 and at most 1, got {strength}")
    if params.preview_every is not None and params.preview_every < 1:
        raise InvalidParams(f"preview_every must be at least 1, got {params.preview_every}")
    for name, value in (("width", params.width), ("height", params.height)):
        if value is not None and (value < SIZE_MULTIPLE or value % SIZE_MULTIPLE):
            raise InvalidParams(
                f"{name} must be a multiple of {SIZE_MULTIPLE}, at least {SIZE_MULTIPLE}; got {value}"
            )
    if params.width is not None and params.height is not None:
        check_pixels(params.width, params.height, max_image_pixels)


def check_pixels(width: int, height: int, max_image_pixels: int) -> None:
    pixels = width * height
    if pixels > max_image_pixels:
        raise ResourceExhausted(
            f"an image of {width}x{height} = {pixels} pixels is over the limit of {max_image_pixels} "
            "(--max-image-pixels)",
            data={"width": width, "height": height, "pixels": pixels, "max_image_pixels": max_image_pixels},
        )


def round_down(size: int) -> int:
    return max(SIZE_MULTIPLE, size - size % SIZE_MULTIPLE)
