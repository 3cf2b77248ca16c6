"""Text-to-speech through the real worker, on a tiny random-weight VITS, a SpeechT5 with its
HiFi-GAN vocoder, a MusicGen and a Bark (built by tests/models/speech_builders.py): WAV results that
parse, kept waveforms that speech recognition takes by handle, speaker embeddings by list and by
handle, and the errors, after each of which the worker keeps serving."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from tests.models import speech_builders
from worker.client import WorkerCallError
from worker.models.tasks.speech import MAX_NEW_TOKENS, MAX_TEXT_CHARS, PROGRESS_EVERY_STEPS

pytestmark = pytest.mark.models

RATE = speech_builders.SAMPLING_RATE
SPEAKER = [0.25, -0.5, 0.75, 0.1, -0.2, 0.3, 0.9, -0.4]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("speech-models")
    speech_builders.vits(root / "vits")
    vocoder = speech_builders.speecht5(root / "speecht5")
    speech_builders.musicgen(root / "musicgen")
    speech_builders.bark(root / "bark")
    return {
        "vits": root / "vits",
        "speecht5": root / "speecht5",
        "vocoder": vocoder,
        "musicgen": root / "musicgen",
        "bark": root / "bark",
    }


@pytest.fixture(scope="module")
def vits(worker: Any, folders: dict[str, Path]) -> str:
    loaded = worker.call("model/load", {"model": str(folders["vits"])}, timeout=120)
    assert loaded["task"] == "text-to-speech"  # told from the folder: VitsModel
    return str(loaded["handle"])


@pytest.fixture(scope="module")
def speecht5(worker: Any, folders: dict[str, Path]) -> str:
    loaded = worker.call(
        "model/load",
        {"model": str(folders["speecht5"]), "options": {"vocoder": str(folders["vocoder"])}},
        timeout=120,
    )
    assert loaded["task"] == "text-to-speech"  # SpeechT5ForTextToSpeech
    return str(loaded["handle"])


@pytest.fixture(scope="module")
def musicgen(worker: Any, folders: dict[str, Path]) -> str:
    loaded = worker.call("model/load", {"model": str(folders["musicgen"])}, timeout=120)
    assert loaded["task"] == "text-to-speech"  # model_type musicgen
    return str(loaded["handle"])


@pytest.fixture(scope="module")
def bark(worker: Any, folders: dict[str, Path]) -> str:
    loaded = worker.call("model/load", {"model": str(folders["bark"])}, timeout=120)
    assert loaded["task"] == "text-to-speech"  # model_type bark
    return str(loaded["handle"])


def run(worker: Any, handle: str, inputs: Any, keep: bool = False, **parameters: Any) -> Any:
    request = {"handle": handle, "inputs": inputs, "parameters": parameters, "keep": keep}
    return worker.call("model/run", request, timeout=120)


def refused(worker: Any, method: str, params: dict[str, Any]) -> WorkerCallError:
    with pytest.raises(WorkerCallError) as caught:
        worker.call(method, params, timeout=120)
    return caught.value


def still_speaks(worker: Any, handle: str, **parameters: Any) -> None:
    result = run(worker, handle, "still here", **parameters)
    assert soundfile.info(io.BytesIO(result["audio"])).frames > 0


def samples_of(result: dict[str, Any]) -> np.ndarray:
    samples, rate = soundfile.read(io.BytesIO(result["audio"]), dtype="float32")
    assert rate == result["sampling_rate"]
    return np.asarray(samples)


def test_vits_speaks_a_pcm16_wav_whose_header_says_the_rate_and_length(worker, vits):
    result = run(worker, vits, "hello world")
    assert set(result) == {"audio", "sampling_rate", "seconds", "format", "encoding"}
    assert (result["format"], result["encoding"], result["sampling_rate"]) == ("wav", "pcm16", RATE)
    with wave.open(io.BytesIO(result["audio"])) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        frames = wav.getnframes()
        assert frames > 0 and len(wav.readframes(frames)) == 2 * frames
    assert frames == round(result["seconds"] * RATE)


def test_float32_wav_holds_exactly_the_waveform_that_keep_leaves_in_the_worker(worker, vits):
    as_wav = run(worker, vits, "hello world", encoding="float32", seed=11)
    assert as_wav["encoding"] == "float32"
    assert soundfile.info(io.BytesIO(as_wav["audio"])).subtype == "FLOAT"
    kept = run(worker, vits, "hello world", keep=True, seed=11)
    assert set(kept) == {"tensor", "sampling_rate", "seconds"}
    info = kept["tensor"]
    assert info["dtype"] == "float32" and len(info["shape"]) == 1 and info["nbytes"] == 4 * info["shape"][0]
    assert kept["sampling_rate"] == RATE and kept["seconds"] == pytest.approx(info["shape"][0] / RATE)
    got = worker.call("tensor/get", {"handle": info["handle"]}, timeout=30)
    waveform = np.frombuffer(got["data"], dtype="<f4")
    # The same seed gives the same speech, and float32 WAV loses nothing.
    np.testing.assert_array_equal(samples_of(as_wav), waveform)
    pcm16 = samples_of(run(worker, vits, "hello world", seed=11))
    # pcm16: written as round(x * 32767), read back as n / 32768 (as libsndfile does both).
    np.testing.assert_allclose(pcm16, np.clip(waveform, -1, 1), atol=2 / 32768)
    worker.call("tensor/free", {"handles": [info["handle"]]}, timeout=30)


def test_a_list_of_texts_runs_as_one_batch_and_each_waveform_has_its_own_length(worker, vits):
    reports: list[Any] = []
    texts = ["hello world, this is a much longer sentence to say", "hi"]
    request = {"handle": vits, "inputs": texts, "parameters": {"seed": 5}}
    results = worker.call("model/run", request, on_progress=reports.append, timeout=120)
    assert [r["sampling_rate"] for r in results] == [RATE, RATE]
    lengths = [len(samples_of(r)) for r in results]
    assert lengths[0] > lengths[1] > 0  # cut at each text's own length, not padded to the longest
    assert reports == [{"done": 2, "total": 2}]


def test_vits_parameters_change_the_speech(worker, vits):
    normal = samples_of(run(worker, vits, "hello world", seed=3))
    slower = samples_of(run(worker, vits, "hello world", seed=3, speaking_rate=0.25))
    assert len(slower) > len(normal) > 0
    quieter = samples_of(run(worker, vits, "hello world", seed=3, noise_scale=0.0, noise_scale_duration=0.0))
    assert not np.array_equal(quieter, normal)
    # A request's settings are its own: the next request speaks as the model does by default.
    assert np.array_equal(samples_of(run(worker, vits, "hello world", seed=3)), normal)


def test_text_to_audio_is_an_alias_of_text_to_speech(worker, folders):
    loaded = worker.call("model/load", {"model": str(folders["vits"]), "task": "text-to-audio"}, timeout=120)
    assert loaded["task"] == "text-to-speech"


@pytest.mark.parametrize("asr_model", ["ctc", "whisper"])
def test_a_kept_waveform_is_transcribed_by_handle_without_leaving_the_worker(
    worker, vits, load: Callable[..., dict[str, Any]], asr_model
):
    kept = run(worker, vits, ["hello world", "good morning"], keep=True)
    handles = [k["tensor"]["handle"] for k in kept]
    asr = load(asr_model)
    inputs = [{"tensor": h, "sampling_rate": k["sampling_rate"]} for h, k in zip(handles, kept, strict=True)]
    extra = {"max_new_tokens": 4} if asr_model == "whisper" else {}
    transcripts = run(worker, asr["handle"], inputs, **extra)
    # Random weights say nothing sensible, but each waveform was heard as audio.
    assert len(transcripts) == 2 and all(isinstance(t["text"], str) for t in transcripts)
    worker.call("tensor/free", {"handles": handles}, timeout=30)


def test_speecht5_takes_the_speaker_embedding_as_a_list_or_as_a_kept_tensor(worker, speecht5):
    # float32: the tiny random vocoder's samples are far below one 16-bit step.
    by_list = run(worker, speecht5, "hello world", speaker_embedding=SPEAKER, seed=2, encoding="float32")
    assert by_list["sampling_rate"] == RATE and len(samples_of(by_list)) > 0
    put = worker.call(
        "tensor/put",
        {"data": np.asarray(SPEAKER, dtype="<f4").tobytes(), "dtype": "float32", "shape": [len(SPEAKER)]},
        timeout=30,
    )
    by_handle = run(
        worker,
        speecht5,
        "hello world",
        speaker_embedding={"tensor": put["handle"]},
        seed=2,
        encoding="float32",
    )
    assert by_handle["audio"] == by_list["audio"]
    other_voice = run(
        worker, speecht5, "hello world", speaker_embedding=[-x for x in SPEAKER], seed=2, encoding="float32"
    )
    assert other_voice["audio"] != by_list["audio"]
    worker.call("tensor/free", {"handles": [put["handle"]]}, timeout=30)


def test_speecht5_batches_a_list_and_keeps_waveforms(worker, speecht5):
    results = run(worker, speecht5, ["hello world", "the lazy dog"], speaker_embedding=SPEAKER)
    assert len(results) == 2 and all(len(samples_of(r)) > 0 for r in results)
    kept = run(worker, speecht5, ["hello", "world"], keep=True, speaker_embedding=SPEAKER)
    assert [k["tensor"]["shape"][0] for k in kept] == [round(k["seconds"] * RATE) for k in kept]
    worker.call("tensor/free", {"handles": [k["tensor"]["handle"] for k in kept]}, timeout=30)


@pytest.mark.parametrize(
    ("inputs", "parameters", "code", "says"),
    [
        ("hello", {"volume": 11}, -32602, "unknown field `volume`"),
        ("hello", {"encoding": "mp3"}, -32602, "encoding"),
        ("", {}, -32602, "empty"),
        ("   ", {}, -32602, "empty"),
        ("a" * (MAX_TEXT_CHARS + 1), {}, -32602, f"at most {MAX_TEXT_CHARS}"),
        ("hello", {"speaker_embedding": SPEAKER}, -32602, "do not apply to a VITS model"),
        ("hello", {"max_new_tokens": 10}, -32602, "do not apply"),
        ({"path": "/nonexistent.wav"}, {}, -32006, "takes text"),
        # The rate divides the predicted durations and the noise scales multiply log-durations: out
        # of range they answered -32000 (0, NaN) or grew the waveform without bound (1e-6: gigabytes).
        ("hello", {"speaking_rate": 0.0}, -32602, "speaking_rate must be"),
        ("hello", {"speaking_rate": 1e-6}, -32602, "speaking_rate must be"),
        ("hello", {"speaking_rate": float("nan")}, -32602, "speaking_rate must be"),
        ("hello", {"speaking_rate": -1.0}, -32602, "speaking_rate must be"),
        ("hello", {"noise_scale": float("inf")}, -32602, "noise_scale must be"),
        ("hello", {"noise_scale_duration": 1e6}, -32602, "noise_scale_duration must be"),
    ],
)
def test_vits_refuses_bad_requests_and_keeps_serving(worker, vits, inputs, parameters, code, says):
    error = refused(worker, "model/run", {"handle": vits, "inputs": inputs, "parameters": parameters})
    assert error.code == code and says in error.message
    still_speaks(worker, vits)


@pytest.mark.parametrize(
    ("inputs", "parameters", "code", "says"),
    [
        ("hello", {}, -32602, "needs a speaker_embedding"),
        ("hello", {"speaker_embedding": SPEAKER[:5]}, -32602, "must be 8 numbers"),
        ("hello", {"speaker_embedding": [float("nan")] + SPEAKER[1:]}, -32602, "finite"),
        ("hello", {"speaker_embedding": [float("inf")] + SPEAKER[1:]}, -32602, "finite"),
        ("hello", {"speaker_embedding": {"tensor": "t-999999"}}, -32004, "t-999999"),
        ("hello", {"speaking_rate": 2.0, "speaker_embedding": SPEAKER}, -32602, "do not apply to a SpeechT5"),
        ("hello " * 20, {"speaker_embedding": SPEAKER}, -32602, "this model takes at most 64"),
    ],
)
def test_speecht5_refuses_bad_requests_and_keeps_serving(worker, speecht5, inputs, parameters, code, says):
    error = refused(worker, "model/run", {"handle": speecht5, "inputs": inputs, "parameters": parameters})
    assert error.code == code and says in error.message
    still_speaks(worker, speecht5, speaker_embedding=SPEAKER)


def test_a_speaker_embedding_of_the_wrong_shape_by_handle_is_refused(worker, speecht5):
    put = worker.call(
        "tensor/put", {"data": np.zeros((2, 8), dtype="<f4").tobytes(), "dtype": "float32", "shape": [2, 8]}
    )
    error = refused(
        worker,
        "model/run",
        {
            "handle": speecht5,
            "inputs": "hello",
            "parameters": {"speaker_embedding": {"tensor": put["handle"]}},
        },
    )
    assert error.code == -32602 and "must be 8 numbers" in error.message
    worker.call("tensor/free", {"handles": [put["handle"]]}, timeout=30)


def test_speecht5_without_a_vocoder_is_refused_at_load(worker, folders, speecht5):
    error = refused(worker, "model/load", {"model": str(folders["speecht5"])})
    assert error.code == -32602 and "options.vocoder" in error.message
    error = refused(
        worker,
        "model/load",
        {"model": str(folders["speecht5"]), "options": {"vocoder": str(folders["vits"])}},
    )
    assert error.code == -32602 and "not a HiFi-GAN vocoder" in error.message
    error = refused(
        worker, "model/load", {"model": str(folders["vits"]), "options": {"vocoder": str(folders["vocoder"])}}
    )
    assert error.code == -32602 and "takes no vocoder" in error.message
    still_speaks(worker, speecht5, speaker_embedding=SPEAKER)


def test_musicgen_runs_through_the_pipeline_and_reports_its_decoding_steps(worker, musicgen):
    reports: list[Any] = []
    request = {"handle": musicgen, "inputs": "hello", "parameters": {"max_new_tokens": 40}}
    result = worker.call("model/run", request, on_progress=reports.append, timeout=120)
    rate = speech_builders.MUSICGEN_SAMPLING_RATE
    assert result["sampling_rate"] == rate and len(samples_of(result)) == round(result["seconds"] * rate) > 0
    assert reports[-1] == {"done": 1, "total": 1}
    steps = [r["step"] for r in reports[:-1]]
    assert steps == [PROGRESS_EVERY_STEPS * (i + 1) for i in range(len(steps))] and len(steps) >= 2
    assert all(r["done"] == 0 and r["total"] == 1 for r in reports[:-1])


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"max_new_tokens": MAX_NEW_TOKENS + 1}, f"from 1 to {MAX_NEW_TOKENS}"),
        ({"max_new_tokens": 0}, f"from 1 to {MAX_NEW_TOKENS}"),
        ({"speaking_rate": 2.0}, "do not apply to a musicgen"),
        ({"speaker_embedding": SPEAKER}, "do not apply to a musicgen"),
    ],
)
def test_musicgen_refuses_what_does_not_apply_and_keeps_serving(worker, musicgen, parameters, says):
    error = refused(worker, "model/run", {"handle": musicgen, "inputs": "hello", "parameters": parameters})
    assert error.code == -32602 and says in error.message
    still_speaks(worker, musicgen, max_new_tokens=4)


BARK_RATE = speech_builders.BARK_SAMPLING_RATE
# The tiny Bark's semantic model has 64 positions, 16 of which hold the text: 48 tokens to generate.
BARK_MAX_NEW_TOKENS = 48


def test_bark_speaks_a_wav_at_its_codecs_rate_and_reports_its_decoding_steps(worker, bark):
    reports: list[Any] = []
    request = {"handle": bark, "inputs": "hello world", "parameters": {}}
    result = worker.call("model/run", request, on_progress=reports.append, timeout=120)
    # The codec's rate (8 kHz), not the 24 kHz that Bark's generation config says by default.
    assert (result["format"], result["encoding"], result["sampling_rate"]) == ("wav", "pcm16", BARK_RATE)
    with wave.open(io.BytesIO(result["audio"])) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, BARK_RATE)
        frames = wav.getnframes()
    assert frames == round(result["seconds"] * BARK_RATE) > 0
    # Both autoregressive models (semantic, then coarse) step through generate(): one count.
    assert reports[-1] == {"done": 1, "total": 1}
    steps = [r["step"] for r in reports[:-1]]
    assert steps == [PROGRESS_EVERY_STEPS * (i + 1) for i in range(len(steps))] and len(steps) >= 2
    assert all(r["done"] == 0 and r["total"] == 1 for r in reports[:-1])


def test_bark_max_new_tokens_bounds_its_semantic_tokens_and_so_the_speech(worker, bark):
    # max_new_tokens reached Bark's coarse model too, whose generate() sets its own: a TypeError (-32000).
    short = samples_of(run(worker, bark, "hello world", max_new_tokens=4))
    longest = samples_of(run(worker, bark, "hello world", max_new_tokens=BARK_MAX_NEW_TOKENS))
    # Each semantic token is 75 / 49.9 codec frames of 16 samples (at most 6 frames for 4 tokens).
    assert 0 < len(short) <= 6 * 16 < len(longest)


def test_bark_keeps_a_waveform_and_a_list_speaks_each_text(worker, bark):
    kept = run(worker, bark, ["hello world", "the quick brown fox"], keep=True, max_new_tokens=8)
    assert [k["sampling_rate"] for k in kept] == [BARK_RATE, BARK_RATE]
    assert [k["tensor"]["shape"][0] for k in kept] == [round(k["seconds"] * BARK_RATE) for k in kept]
    worker.call("tensor/free", {"handles": [k["tensor"]["handle"] for k in kept]}, timeout=30)


@pytest.mark.parametrize(
    ("inputs", "parameters", "says"),
    [
        # Past its semantic model's positions Bark answered -32000 (an index out of range).
        ("hello", {"max_new_tokens": BARK_MAX_NEW_TOKENS + 1}, f"from 1 to {BARK_MAX_NEW_TOKENS}"),
        ("hello", {"max_new_tokens": 0}, f"from 1 to {BARK_MAX_NEW_TOKENS}"),
        ("hello", {"speaking_rate": 2.0}, "do not apply to a bark"),
        ("hello", {"speaker_embedding": SPEAKER}, "do not apply to a bark"),
        # Bark reads 16 tokens of text here (256 in suno/bark): the rest was dropped without a word.
        ("hello world " * 9, {}, "this model takes at most 16"),
    ],
)
def test_bark_refuses_bad_requests_and_keeps_serving(worker, bark, inputs, parameters, says):
    error = refused(worker, "model/run", {"handle": bark, "inputs": inputs, "parameters": parameters})
    assert error.code == -32602 and says in error.message
    still_speaks(worker, bark, max_new_tokens=4)


def _load_in_process(folder: Path, **options: Any) -> Any:
    """The task as the worker builds it, in this process: to drive one synthesis step by step."""
    import torch
    from transformers import AutoConfig

    from worker.models.sources import ModelSource
    from worker.models.tasks.base import LoadContext
    from worker.models.tasks.speech import TextToSpeech

    context = LoadContext(
        source=ModelSource(str(folder), folder, "folder"),
        task="text-to-speech",
        device=torch.device("cpu"),
        dtype=torch.float32,
        config=AutoConfig.from_pretrained(str(folder)),
        trust_remote_code=False,
        options=options,
    )
    return TextToSpeech.load(context)


@pytest.mark.parametrize("model", ["speecht5", "musicgen", "bark"])
def test_a_step_by_step_synthesis_stops_at_the_first_step_after_a_cancel(folders, model):
    from worker.errors import RequestCancelled
    from worker.models.tasks.speech import _Steps
    from worker.runtime.context import RequestContext

    options = {"vocoder": str(folders["vocoder"])} if model == "speecht5" else {}
    task = _load_in_process(folders[model], **options)
    parameters = {"speaker_embedding": SPEAKER} if model == "speecht5" else {"max_new_tokens": 8}
    params = task.resolve(task.validate(parameters), None)
    steps_seen: list[Any] = []
    ctx = RequestContext(
        id=1, method="model/run", state=None, progress_token="p", send_progress=lambda t, v: True
    )
    live = _Steps(ctx, 0, 1)
    original = live.step
    live.step = lambda: (steps_seen.append(1), original())  # type: ignore[method-assign]
    assert task.engine.synthesize(["hello world"], params, live)  # runs, step by step
    assert steps_seen, "the decoding loop never reached the per-step check"
    ctx.cancel_event.set()
    with pytest.raises(RequestCancelled):
        task.engine.synthesize(["hello world"], params, _Steps(ctx, 0, 1))
    # The check belongs to the request that set it: a later synthesis on the same model runs.
    fresh = RequestContext(id=2, method="model/run", state=None)
    assert task.engine.synthesize(["hello world"], params, _Steps(fresh, 0, 1))
