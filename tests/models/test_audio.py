"""Audio through the real worker: speech recognition with Whisper and with a CTC model (timestamps,
long audio in chunks) and audio classification, on tones and espeak-ng speech written by the test,
passed by path, as encoded bytes (wav, flac, ogg, mp3) and as kept tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models import media

pytestmark = pytest.mark.models

needs_espeak = pytest.mark.skipif(not media.espeak_available(), reason="espeak-ng is not installed")


def run(worker: Any, handle: str, inputs: Any, **parameters: Any) -> Any:
    return worker.call(
        "model/run", {"handle": handle, "inputs": inputs, "parameters": parameters}, timeout=120
    )


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    files = {
        "tone-22k.wav": media.write_audio(folder / "tone-22k.wav", media.tone(2.0, 22_050), 22_050),
        "tone-16k.wav": media.write_audio(folder / "tone-16k.wav", media.tone(2.0, 16_000), 16_000),
    }
    # 70 seconds of tones rising every 10 s: longer than one 30 s window.
    long = np.concatenate([media.tone(10.0, 16_000, f) for f in (300, 500, 700, 900, 1100, 1300, 1500)])
    files["long.flac"] = media.write_audio(folder / "long.flac", long, 16_000)
    if media.espeak_available():
        files["speech.wav"] = media.speak(
            folder / "speech.wav", "hello world, this is a test of speech recognition"
        )
    return files


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3"])
def test_whisper_transcribes_encoded_bytes_of_every_format(worker, load, fmt):
    model = load("whisper")
    assert model["task"] == "automatic-speech-recognition"  # WhisperForConditionalGeneration
    encoded = media.encode_audio(media.tone(1.5, 44_100), 44_100, fmt)
    result = run(worker, model["handle"], {"bytes": encoded}, max_new_tokens=8)
    assert set(result) == {"text"} and isinstance(result["text"], str)


def test_whisper_returns_segments_with_timestamps(worker, load, audio_files):
    model = load("whisper")
    result = run(
        worker,
        model["handle"],
        {"path": str(audio_files["tone-22k.wav"])},
        return_timestamps=True,
        max_new_tokens=10,
    )
    assert isinstance(result["text"], str) and isinstance(result["chunks"], list)
    for chunk in result["chunks"]:
        start, end = chunk["timestamp"]
        assert isinstance(chunk["text"], str) and start >= 0.0 and (end is None or end >= start)
    assert "".join(c["text"] for c in result["chunks"]).strip() == result["text"].strip()


def test_whisper_transcribes_long_audio_in_chunks(worker, load, audio_files):
    model = load("whisper")
    result = run(
        worker,
        model["handle"],
        {"path": str(audio_files["long.flac"])},
        return_timestamps=True,
        max_new_tokens=10,
    )
    # Timestamps past 30 s exist only if windows after the first one were transcribed.
    ends = [c["timestamp"][1] or c["timestamp"][0] for c in result["chunks"]]
    assert result["chunks"] and max(ends) > 30.0


@needs_espeak
def test_whisper_and_ctc_transcribe_espeak_speech(worker, load, audio_files):
    speech = {"path": str(audio_files["speech.wav"])}  # 22050 Hz, resampled to 16 kHz
    whisper = run(worker, load("whisper")["handle"], speech, max_new_tokens=8, return_timestamps=True)
    assert isinstance(whisper["text"], str) and isinstance(whisper["chunks"], list)
    ctc = run(worker, load("ctc")["handle"], speech, return_timestamps="word")
    assert [w["text"] for w in ctc["chunks"]] == ctc["text"].split()


def test_ctc_transcribes_with_character_and_word_timestamps(worker, load, audio_files):
    model = load("ctc")
    assert model["task"] == "automatic-speech-recognition"  # Wav2Vec2ForCTC
    path = {"path": str(audio_files["tone-16k.wav"])}
    plain = run(worker, model["handle"], path)
    chars = run(worker, model["handle"], path, return_timestamps="char")
    assert chars["text"] == plain["text"]
    assert chars["chunks"] and all(len(c["timestamp"]) == 2 for c in chars["chunks"])
    assert max(c["timestamp"][1] for c in chars["chunks"]) <= 2.0 + 1e-6
    words = run(worker, model["handle"], path, return_timestamps=True)  # true means words for CTC
    assert [w["text"] for w in words["chunks"]] == plain["text"].split()
    assert run(worker, model["handle"], path, return_timestamps=False) == plain  # false means none


def test_ctc_transcribes_long_audio_in_chunks_to_the_end(worker, load, audio_files):
    model = load("ctc")
    result = run(worker, model["handle"], {"path": str(audio_files["long.flac"])}, return_timestamps="char")
    assert max(c["timestamp"][1] for c in result["chunks"]) > 60.0  # all 70 s were heard


def test_audio_classification_by_path_bytes_and_tensor(worker, load, audio_files):
    model = load("audio-classification")
    assert model["task"] == "audio-classification"  # Wav2Vec2ForSequenceClassification
    by_path = run(worker, model["handle"], {"path": str(audio_files["tone-16k.wav"])})
    assert sorted(r["label"] for r in by_path) == ["noise", "speech", "tone"]
    assert sum(r["score"] for r in by_path) == pytest.approx(1.0, abs=1e-5)

    by_bytes = run(worker, model["handle"], {"bytes": audio_files["tone-16k.wav"].read_bytes()})
    assert _scores(by_bytes) == pytest.approx(_scores(by_path), abs=1e-5)

    waveform, rate = _read(audio_files["tone-16k.wav"])
    kept = worker.call(
        "tensor/put", {"data": waveform.astype("<f4").tobytes(), "dtype": "float32", "shape": [len(waveform)]}
    )
    by_tensor = run(worker, model["handle"], {"tensor": kept["handle"], "sampling_rate": rate})
    assert _scores(by_tensor) == pytest.approx(_scores(by_path), abs=1e-5)

    resampled = run(
        worker,
        model["handle"],
        [{"path": str(audio_files["tone-22k.wav"])}, {"path": str(audio_files["tone-16k.wav"])}],
    )
    assert len(resampled) == 2 and _scores(resampled[1]) == pytest.approx(_scores(by_path), abs=1e-5)


def _scores(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["label"]: r["score"] for r in result}


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32")
    return data, rate
