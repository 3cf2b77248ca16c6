"""Audio inputs: a file path, encoded bytes (wav, flac, ogg, mp3) or a kept tensor, decoded to a mono
float32 waveform at the model's sampling rate (resampled with librosa).

Files are read through ``worker.models.inputs.files`` (regular files only, bounded, confined) and
decoded from memory. A file libsndfile cannot read (m4a, aac...) is handed to audioread, which needs
a name: it gets the name of the descriptor that was checked, never the client's path again."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from worker.errors import InvalidInput
from worker.models.inputs.files import InputFile, open_input_file, quote
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject

# Beyond this a single input is more likely a mistake than speech; checked from the header (or
# while decoding) before the samples are allocated.
MAX_SECONDS = 3600 * 3


def load_audio(value: InputObject, sampling_rate: int, sources: InputSources, task: str) -> np.ndarray:
    kind = value.kind
    if kind == "path":
        assert value.path is not None
        with open_input_file(value.path, sources.files, "audio file") as opened:
            waveform, rate = _decode_file(opened)
    elif kind == "bytes":
        assert value.bytes is not None
        waveform, rate = _decode_bytes(value.bytes, f"{len(value.bytes)} bytes of audio")
    elif kind == "tensor":
        assert value.tensor is not None
        waveform = _waveform_from_array(sources.tensor(value.tensor))
        rate = value.sampling_rate or sampling_rate
    else:
        raise InvalidInput(f"{task} takes audio (path, bytes or tensor); got an input of shape {kind!r}")
    if waveform.size == 0:
        raise InvalidInput("the audio input has no samples")
    _check_duration(waveform.size, rate)
    if rate != sampling_rate:
        import librosa

        waveform = librosa.resample(waveform, orig_sr=rate, target_sr=sampling_rate)
    return np.ascontiguousarray(waveform, dtype=np.float32)


def _decode_file(opened: InputFile) -> tuple[np.ndarray, int]:
    try:
        return _decode_bytes(opened.read(), f"audio file {_name(opened)}")
    except _NotSoundfile as exc:
        return _decode_with_audioread(opened, exc.reason)


class _NotSoundfile(InvalidInput):
    """libsndfile could not read the bytes; ``reason`` says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _decode_bytes(data: bytes, what: str) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sound:
            # The header says how long the sound is: refuse before allocating for it (a few bytes
            # of FLAC can claim 2^36 frames).
            _check_duration(sound.frames, sound.samplerate)
            samples = sound.read(dtype="float32", always_2d=True)
            rate = sound.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(getattr(exc, "error_string", None) or exc)
        raise _NotSoundfile(
            f"cannot decode {what} (wav, flac, ogg or mp3 expected): {reason}", reason
        ) from None
    return _mono(samples), int(rate)


def _decode_with_audioread(opened: InputFile, first_error: str) -> tuple[np.ndarray, int]:
    # libsndfile does not read every container (m4a, aac...); audioread does where ffmpeg or a
    # platform decoder is installed. It opens a name, possibly in another process (ffmpeg): the
    # checked descriptor's /proc/<pid>/fd/N, so it reads the file that passed the checks.
    failure = InvalidInput(f"cannot decode audio file {_name(opened)}: {first_error}")
    shared = opened.shared_path
    if shared is None:
        raise failure
    try:
        import audioread

        with audioread.audio_open(shared) as source:
            rate, channels = int(source.samplerate), max(1, int(source.channels))
            limit = (MAX_SECONDS * rate + 1) * channels
            blocks: list[np.ndarray] = []
            count = 0
            for block in source:  # 16-bit little-endian PCM, channels interleaved
                samples = np.frombuffer(block, dtype="<i2")
                count += samples.size
                if count > limit:
                    _check_duration(count // channels, rate)
                blocks.append(samples)
    except InvalidInput:
        raise
    except Exception:
        raise failure from None
    pcm = np.concatenate(blocks) if blocks else np.zeros(0, dtype="<i2")
    frames = pcm[: pcm.size - pcm.size % channels].reshape(-1, channels)
    return _mono(frames.astype(np.float32) / 32768.0), rate


def _check_duration(frames: int, rate: int) -> None:
    if rate > 0 and frames > MAX_SECONDS * rate:
        raise InvalidInput(f"audio input too long: {frames / rate:.0f} s (at most {MAX_SECONDS} s)")


def _name(opened: InputFile) -> str:
    return quote(opened.path)


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
