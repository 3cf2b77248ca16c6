"""Tiny random-weight Stable Diffusion pipelines, built offline and saved with ``save_pretrained``.

A UNet2DConditionModel and an AutoencoderKL of two blocks each (32 and 64 channels; the VAE halves
the size, so a 32 x 32 image has 16 x 16 latents), a two-layer CLIPTextModel of width 32 and a CLIP
tokenizer whose vocabulary is built here (letters, digits, punctuation, each also as a word end): no
hub at test time. A DDIM scheduler, whose step count is exactly num_inference_steps. An inpainting
pipeline's UNet takes 9 channels (latents, masked image latents, mask).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SAMPLE_SIZE = 16  # latent size of the default image: 32 x 32 pixels
_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789 ,.!?'-"


def tokenizer() -> Any:
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for character in _CHARACTERS:
        vocab.setdefault(character, len(vocab))
        vocab.setdefault(character + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def _text_encoder(vocab_size: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=16,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config)


def _unet(in_channels: int) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SAMPLE_SIZE,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def _vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=32,
        sample_size=SAMPLE_SIZE * 2,
    )


def _components(unet_channels: int) -> dict[str, Any]:
    from diffusers import DDIMScheduler

    words = tokenizer()
    return {
        "unet": _unet(unet_channels),
        "vae": _vae(),
        "text_encoder": _text_encoder(len(words)),
        "tokenizer": words,
        "scheduler": DDIMScheduler(steps_offset=1, clip_sample=False, set_alpha_to_one=False),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }


def text_to_image(folder: Path) -> None:
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(**_components(4)).save_pretrained(folder)


def inpainting(folder: Path) -> None:
    from diffusers import StableDiffusionInpaintPipeline

    StableDiffusionInpaintPipeline(**_components(9)).save_pretrained(folder)
