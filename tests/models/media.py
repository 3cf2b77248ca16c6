"""Real inputs written by the tests: tones and noise with numpy + soundfile, speech with espeak-ng
(where installed), images drawn with pillow; as files and as encoded bytes."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np


def tone(seconds: float, rate: int = 16_000, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def encode_audio(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """``samples`` encoded as WAV, FLAC, OGG (Vorbis) or MP3 by libsndfile."""
    import soundfile

    buffer = io.BytesIO()
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}[fmt]
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def write_audio(path: Path, samples: np.ndarray, rate: int) -> Path:
    import soundfile

    soundfile.write(str(path), samples, rate)
    return path


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(path: Path, text: str) -> Path:
    """A WAV of ``text`` spoken by espeak-ng (22050 Hz mono)."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True, timeout=60)
    return path


def picture(width: int = 96, height: int = 64) -> object:
    """A red square and a blue circle on white."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([8, 8, 40, 40], fill="red")
    draw.ellipse([50, 16, 86, 52], fill="blue")
    return image


def encode_image(image: object, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)  # type: ignore[attr-defined]
    return buffer.getvalue()
