"""The WAV encoder of synthesised speech: what it writes reads back with soundfile and the stdlib."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
import soundfile

from worker.models.outputs.wav import encode_wav

RATE = 22_050


def ramp(n: int = 1000) -> np.ndarray:
    return np.linspace(-1.5, 1.5, n, dtype=np.float32)  # overshoots [-1, 1] at both ends


def test_pcm16_reads_back_clipped_and_rounded_to_16_bits():
    samples = ramp()
    data = encode_wav(samples, RATE, "pcm16")
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1,
            2,
            RATE,
            1000,
        )
        pcm = np.frombuffer(wav.readframes(1000), dtype="<i2")
    expected = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    np.testing.assert_array_equal(pcm, expected)
    assert pcm.min() == -32767 and pcm.max() == 32767


def test_float32_reads_back_exactly_with_soundfile():
    samples = ramp()
    data = encode_wav(samples, RATE, "float32")
    info = soundfile.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (RATE, 1, 1000, "FLOAT")
    read, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    assert rate == RATE
    np.testing.assert_array_equal(read, samples)


def test_float32_carries_the_fact_chunk_and_an_extended_format_chunk():
    data = encode_wav(ramp(10), RATE, "float32")
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert data[12:16] == b"fmt " and struct.unpack("<I", data[16:20])[0] == 18
    tag, channels, rate, byte_rate, align, bits, extra = struct.unpack("<HHIIHHH", data[20:38])
    assert (tag, channels, rate, byte_rate, align, bits, extra) == (3, 1, RATE, RATE * 4, 4, 32, 0)
    assert data[38:42] == b"fact" and struct.unpack("<II", data[42:50]) == (4, 10)
    assert data[50:54] == b"data" and struct.unpack("<I", data[54:58])[0] == 40


@pytest.mark.parametrize("encoding", ["pcm16", "float32"])
def test_an_empty_waveform_is_a_valid_empty_file(encoding):
    info = soundfile.info(io.BytesIO(encode_wav(np.zeros(0, dtype=np.float32), RATE, encoding)))
    assert info.frames == 0 and info.samplerate == RATE


def test_pcm16_writes_silence_for_nan_and_full_scale_for_infinities():
    # A 16-bit model (float16 on a GPU) can overflow to inf or NaN; casting NaN to int16 is undefined
    # (numpy warns, and the sample is whatever the CPU makes of it).
    samples = np.array([np.nan, np.inf, -np.inf, 0.5], dtype=np.float32)
    with wave.open(io.BytesIO(encode_wav(samples, RATE, "pcm16"))) as wav:
        frames = wav.readframes(4)
    assert list(struct.unpack("<4h", frames)) == [0, 32767, -32767, 16384]
