"""The working memory of one pipeline call, estimated from the components' configs before it runs.

Two peaks, whichever is larger: the UNet's activations at latent resolution (skip connections kept for
the up path, the attention blocks' feed-forward), doubled by classifier-free guidance, and the VAE
decode at full resolution (its last blocks hold several full-size feature maps). Both grow with pixels
times images. Coefficients are rough upper bounds for Stable Diffusion's layouts: the point is to
refuse a request that cannot fit (an 8192 x 8192 image, 8 images at 2048 x 2048 on a small machine)
with -32008 instead of letting the allocator fail mid-call or the kernel end the worker.
"""

from __future__ import annotations

from typing import Any

# Feature maps of the widest block alive at once, in units of (pixels x channels).
_UNET_MAPS = 20
_VAE_MAPS = 4


def working_bytes(pipeline: Any, width: int, height: int, images: int, guided: bool, itemsize: int) -> int:
    scale = int(getattr(pipeline, "vae_scale_factor", 8) or 8)
    pixels = width * height
    latent_pixels = pixels // (scale * scale)
    unet_config = getattr(getattr(pipeline, "unet", None), "config", None)
    unet_channels = _first_channels(unet_config, default=320)
    vae_channels = _first_channels(getattr(pipeline.vae, "config", None), default=128)
    unet = latent_pixels * unet_channels * itemsize * _UNET_MAPS * (2 if guided else 1)
    vae = pixels * vae_channels * itemsize * _VAE_MAPS
    return images * max(unet, vae) + images * pixels * 3 * 4  # and the decoded float images


def _first_channels(config: Any, default: int) -> int:
    channels = getattr(config, "block_out_channels", None) if config is not None else None
    return int(channels[0]) if channels else default
