"""WAV files from float waveforms: 16-bit PCM (the default: what every player reads) or 32-bit IEEE
float (no rounding, no clipping).

The stdlib ``wave`` module writes PCM only, so both are written here with one header layout: RIFF,
``fmt `` and, for float, the ``fact`` chunk that non-PCM formats must carry. Mono, little-endian.
Not here: decoding (worker.models.inputs.audio reads WAV, FLAC, OGG and MP3 with soundfile).
"""

from __future__ import annotations

import struct
from typing import Literal

import numpy as np

Encoding = Literal["pcm16", "float32"]

_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
# RIFF sizes are 32-bit: a WAV file cannot hold more than this many bytes of samples.
MAX_DATA_BYTES = 2**32 - 1 - 58


def encode_wav(waveform: np.ndarray, sampling_rate: int, encoding: Encoding = "pcm16") -> bytes:
    """A mono WAV file holding ``waveform`` (1-D floats, nominally in [-1, 1]) at ``sampling_rate``.

    pcm16 clips samples outside [-1, 1] (a model's output can overshoot), writes NaN as 0 and rounds
    to the nearest of 65,535 levels; float32 keeps the samples as they are."""
    samples = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if encoding == "pcm16":
        # NaN (a 16-bit model that overflowed) as silence: casting it to int16 is undefined.
        finite = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        data = np.round(np.clip(finite, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        return _riff(data, _fmt(_WAVE_FORMAT_PCM, sampling_rate, 16, extension=False))
    data = samples.astype("<f4").tobytes()
    fact = b"fact" + struct.pack("<II", 4, samples.size)
    return _riff(data, _fmt(_WAVE_FORMAT_IEEE_FLOAT, sampling_rate, 32, extension=True) + fact)


def _fmt(format_tag: int, sampling_rate: int, bits: int, *, extension: bool) -> bytes:
    channels = 1
    block_align = channels * bits // 8
    body = struct.pack(
        "<HHIIHH", format_tag, channels, sampling_rate, sampling_rate * block_align, block_align, bits
    )
    if extension:  # WAVEFORMATEX: non-PCM formats say how many extra bytes follow (none)
        body += struct.pack("<H", 0)
    return b"fmt " + struct.pack("<I", len(body)) + body


def _riff(data: bytes, chunks: bytes) -> bytes:
    if len(data) > MAX_DATA_BYTES:
        raise ValueError(f"{len(data)} bytes of samples do not fit in a WAV file")
    body = b"WAVE" + chunks + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body
