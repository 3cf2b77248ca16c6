"""Audio inputs: a file path, encoded bytes (wav, flac, ogg, mp3) or a kept tensor, decoded to a mono
float32 waveform at the model's sampling rate (resampled with librosa)."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np

from worker.errors import InvalidInput
from worker.models.inputs.spec import InputObject

# Beyond this a single input is more likely a mistake than speech: about 3 hours at 16 kHz.
MAX_SAMPLES = 16_000 * 3600 * 3


def load_audio(value: InputObject, sampling_rate: int, tensors: Any, task: str) -> np.ndarray:
    kind = value.kind
    if kind == "path":
        assert value.path is not None
        waveform, rate = _decode_file(value.path)
    elif kind == "bytes":
        assert value.bytes is not None
        waveform, rate = _decode_bytes(value.bytes)
    elif kind == "tensor":
        assert value.tensor is not None
        waveform = _waveform_from_array(tensors(value.tensor))
        rate = value.sampling_rate or sampling_rate
    else:
        raise InvalidInput(f"{task} takes audio (path, bytes or tensor); got an input of shape {kind!r}")
    if waveform.size == 0:
        raise InvalidInput("the audio input has no samples")
    if rate != sampling_rate:
        import librosa

        waveform = librosa.resample(waveform, orig_sr=rate, target_sr=sampling_rate)
    if waveform.size > MAX_SAMPLES:
        raise InvalidInput(f"audio input too long: {waveform.size / sampling_rate:.0f} s")
    return np.ascontiguousarray(waveform, dtype=np.float32)


def _decode_file(path: str) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise InvalidInput(f"audio file {path!r} not found") from None
    except soundfile.LibsndfileError as exc:
        if not _exists(path):
            raise InvalidInput(f"audio file {path!r} not found") from None
        return _decode_with_audioread(path, exc)
    return _mono(data), int(rate)


def _decode_with_audioread(path: str, first_error: Exception) -> tuple[np.ndarray, int]:
    # libsndfile does not read every container (m4a, aac...); librosa falls back to audioread,
    # which works where ffmpeg or a platform decoder is installed.
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(path, sr=None, mono=True)
    except Exception:
        raise InvalidInput(f"cannot decode audio file {path!r}: {first_error}") from None
    return np.asarray(data, dtype=np.float32), int(rate)


def _decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise InvalidInput(
            f"cannot decode {len(data)} bytes of audio (wav, flac, ogg or mp3 expected): {exc}"
        ) from None
    return _mono(samples), int(rate)


def _mono(frames_by_channel: np.ndarray) -> np.ndarray:
    return frames_by_channel.mean(axis=1) if frames_by_channel.shape[1] > 1 else frames_by_channel[:, 0]


def _waveform_from_array(array: Any) -> np.ndarray:
    samples = np.asarray(array)
    if samples.dtype.kind not in "fiu":
        raise InvalidInput(f"an audio tensor must hold numbers, not {samples.dtype}")
    if samples.ndim == 2:  # (channels, samples) as librosa and torchaudio lay it out
        samples = samples.mean(axis=0)
    if samples.ndim != 1:
        raise InvalidInput(
            f"an audio tensor must be 1-D (samples) or 2-D (channels, samples); got {samples.shape}"
        )
    return samples.astype(np.float32)


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)
