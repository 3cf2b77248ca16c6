"""A preview of an image while it is denoised: the 4 latent channels mapped to RGB by a fixed linear
projection, at latent resolution. A VAE decode would cost as much as a step or more; this costs a
small matrix product. The coefficients are the least-squares fits the community uses for live
previews (ComfyUI's latent formats): one set for SD 1.x/2.x latents, one for SDXL's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SD = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_SDXL = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
_SDXL_BIAS = (0.1084, -0.0175, -0.0011)


def projection_for(pipeline: Any) -> tuple[Any, Any] | None:
    """(factors [4, 3], bias [3]) for this pipeline's latents, or None when it has no preview."""
    channels = getattr(getattr(pipeline, "vae", None), "config", None)
    if channels is None or getattr(channels, "latent_channels", None) != 4:
        return None
    if "XL" in type(pipeline).__name__:
        return np.array(_SDXL, dtype=np.float32), np.array(_SDXL_BIAS, dtype=np.float32)
    return np.array(_SD, dtype=np.float32), np.zeros(3, dtype=np.float32)


def preview_png(latent: Any, projection: tuple[Any, Any]) -> tuple[bytes, int, int]:
    """One image's latent [4, h, w] (a torch tensor) as (PNG bytes, width, height)."""
    import io

    from PIL import Image

    factors, bias = projection
    values = latent.detach().float().cpu().numpy()  # [4, h, w]
    rgb = np.einsum("chw,cr->hwr", values, factors) + bias  # about [-1, 1]
    pixels = ((np.clip(rgb, -1.0, 1.0) + 1.0) * 127.5).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue(), int(pixels.shape[1]), int(pixels.shape[0])
