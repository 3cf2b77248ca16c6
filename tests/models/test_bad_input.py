"""Bad input gets a clear error and the worker keeps serving: unknown task, wrong input type, corrupt
audio and image bytes, a tensor whose bytes do not match its dtype and shape, a missing model, a
model too large for memory, unknown handles, refused remote code, malformed parameters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.models import media
from worker.client import WorkerCallError

pytestmark = pytest.mark.models

INVALID_PARAMS, UNKNOWN_HANDLE, MODEL_NOT_FOUND, INVALID_INPUT = -32602, -32004, -32005, -32006
FORBIDDEN, RESOURCE_EXHAUSTED, UNSUPPORTED_TASK = -32007, -32008, -32009


def fails(worker: Any, method: str, params: dict[str, Any], code: int, *words: str) -> WorkerCallError:
    """Call, expect error ``code`` with ``words`` in its message, then check the worker still serves."""
    with pytest.raises(WorkerCallError) as caught:
        worker.call(method, params, timeout=60)
    error = caught.value
    assert error.code == code, error
    for word in words:
        assert word in error.message, error.message
    assert worker.call("worker/ping", {"still": "serving"}, timeout=10) == {"still": "serving"}
    return error


def run_params(handle: str, inputs: Any, **parameters: Any) -> dict[str, Any]:
    return {"handle": handle, "inputs": inputs, "parameters": parameters}


def test_unknown_task(worker, model_dir):
    fails(
        worker,
        "model/load",
        {"model": str(model_dir("text-classification")), "task": "teleportation"},
        UNSUPPORTED_TASK,
        "teleportation",
    )


def test_a_folder_whose_task_cannot_be_told_needs_one(worker, tmp_path):
    from transformers import BertConfig

    BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
    ).save_pretrained(tmp_path)
    fails(worker, "model/load", {"model": str(tmp_path)}, INVALID_PARAMS, "pass task")


def test_wrong_input_type_for_the_task(worker, load, model_dir):
    text_model = load("text-classification")["handle"]
    image_model = load("image-classification")["handle"]
    speech_model = load("ctc")["handle"]
    fails(
        worker, "model/run", run_params(text_model, {"path": "/tmp/picture.png"}), INVALID_INPUT, "takes text"
    )
    fails(worker, "model/run", run_params(image_model, "a sentence"), INVALID_INPUT, "image")
    fails(worker, "model/run", run_params(speech_model, "a sentence"), INVALID_INPUT, "audio")
    fails(worker, "model/run", run_params(text_model, {"question": "q", "context": "c"}), INVALID_INPUT)
    fails(
        worker,
        "model/run",
        run_params(text_model, {"text": "a", "path": "/b"}),
        INVALID_PARAMS,
        "exactly one",
    )
    fails(worker, "model/run", run_params(text_model, {"txt": "a"}), INVALID_PARAMS, "txt")
    fails(worker, "model/run", run_params(text_model, 42), INVALID_PARAMS)
    fails(worker, "model/run", run_params(text_model, []), INVALID_PARAMS, "empty")


def test_corrupt_audio_bytes_and_missing_audio_files(worker, load):
    handle = load("audio-classification")["handle"]
    fails(
        worker,
        "model/run",
        run_params(handle, {"bytes": b"RIFF\x00\x00not really a wave file"}),
        INVALID_INPUT,
        "cannot decode",
    )
    wav = media.encode_audio(media.tone(1.0), 16_000, "WAV")
    fails(worker, "model/run", run_params(handle, {"bytes": wav[:30]}), INVALID_INPUT)
    fails(
        worker,
        "model/run",
        run_params(handle, {"path": "/nonexistent/audio.wav"}),
        INVALID_INPUT,
        "not found",
    )
    # Batched with a good input: the bad one fails the request, which names the problem.
    fails(worker, "model/run", run_params(handle, [{"bytes": wav}, {"bytes": b"garbage"}]), INVALID_INPUT)
    assert len(worker.call("model/run", run_params(handle, {"bytes": wav}))) == 3


def test_corrupt_image_bytes(worker, load, tmp_path):
    handle = load("image-classification")["handle"]
    png = media.encode_image(media.picture(), "PNG")
    fails(
        worker,
        "model/run",
        run_params(handle, {"bytes": b"\x89PNG\r\n\x1a\nthis is no image"}),
        INVALID_INPUT,
        "cannot decode",
    )
    fails(worker, "model/run", run_params(handle, {"bytes": png[: len(png) // 2]}), INVALID_INPUT)
    text_file = tmp_path / "notes.png"
    text_file.write_text("not an image")
    fails(worker, "model/run", run_params(handle, {"path": str(text_file)}), INVALID_INPUT)


def test_a_tensor_whose_bytes_do_not_match_dtype_and_shape(worker, load):
    fails(
        worker, "tensor/put", {"data": b"\x00" * 10, "dtype": "float32", "shape": [3]}, INVALID_INPUT, "bytes"
    )
    handle = load("image-classification")["handle"]
    text = worker.call("tensor/put", {"data": b"\x00" * 12, "dtype": "float32", "shape": [3]})
    fails(worker, "model/run", run_params(handle, {"tensor": text["handle"]}), INVALID_INPUT, "image tensor")
    fails(worker, "model/run", run_params(handle, {"tensor": "t-999999"}), UNKNOWN_HANDLE)


def test_a_missing_model_fails_fast_and_names_it(worker, tmp_path):
    fails(worker, "model/load", {"model": str(tmp_path / "no-such-model")}, MODEL_NOT_FOUND, "no-such-model")
    fails(worker, "model/load", {"model": str(tmp_path)}, MODEL_NOT_FOUND, "config.json")
    # A name longer than the file system takes (ENAMETOOLONG) is a folder that cannot be found too.
    fails(worker, "model/load", {"model": "/" + "m" * 5000}, MODEL_NOT_FOUND, "cannot be used")
    started = time.monotonic()
    fails(
        worker,
        "model/load",
        {"model": "nobody-here/missing-model-123"},
        MODEL_NOT_FOUND,
        "nobody-here/missing-model-123",
        "offline",
    )
    assert time.monotonic() - started < 10  # never a hang on the network


def test_a_model_too_large_for_memory_is_refused_before_allocating(worker, model_dir):
    started = time.monotonic()
    error = fails(worker, "model/load", {"model": str(model_dir("too-large"))}, RESOURCE_EXHAUSTED, "GiB")
    assert error.data["estimated_bytes"] > error.data["available_bytes"]
    assert time.monotonic() - started < 30


def test_unknown_and_unloaded_handles(worker, load, model_dir):
    fails(worker, "model/run", run_params("m-424242", "hi"), UNKNOWN_HANDLE, "m-424242")
    fails(worker, "model/unload", {"handle": "nonsense"}, UNKNOWN_HANDLE)
    loaded = worker.call("model/load", {"model": str(model_dir("fill-mask"))})
    for _ in range(loaded["references"]):
        worker.call("model/unload", {"handle": loaded["handle"]})
    fails(worker, "model/run", run_params(loaded["handle"], "a [MASK]"), UNKNOWN_HANDLE, "unloaded")


def test_trust_remote_code_is_refused_without_the_flag(worker, model_dir, tmp_path):
    fails(
        worker,
        "model/load",
        {"model": str(model_dir("text-classification")), "options": {"trust_remote_code": True}},
        FORBIDDEN,
        "--trust-remote-code",
    )
    _write_remote_code_model(tmp_path)
    fails(
        worker,
        "model/load",
        {"model": str(tmp_path), "task": "feature-extraction"},
        FORBIDDEN,
        "trust_remote_code",
    )
    assert not (tmp_path / "executed").exists()


@pytest.mark.parametrize("option", ["offload_folder", "cache_dir", "device_map", "max_memory"])
def test_options_that_would_place_the_model_or_write_files_are_refused(worker, model_dir, tmp_path, option):
    folder = str(model_dir("text-classification"))
    value = {"device_map": "auto", "max_memory": {"cpu": "1GB"}}.get(option, str(tmp_path / "written"))
    fails(worker, "model/load", {"model": folder, "options": {option: value}}, INVALID_PARAMS, option)
    assert not (tmp_path / "written").exists()


def test_attention_kernels_from_the_hub_are_refused_without_trust(worker, model_dir):
    folder = str(model_dir("text-classification"))
    for options in (
        {"attn_implementation": "kernels-community/flash-attn"},
        {"attn_implementation": {"": "kernels-community/flash-attn"}},  # per sub-model
        {"use_kernels": True},
    ):
        params = {"model": folder, "options": options}
        fails(worker, "model/load", params, FORBIDDEN, "kernels from the Hub", "--trust-remote-code")
    # A built-in implementation by name is still the client's choice.
    loaded = worker.call(
        "model/load", {"model": folder, "options": {"attn_implementation": "eager"}}, timeout=120
    )
    assert loaded["task"] == "text-classification"


def test_malformed_load_and_run_parameters(worker, load, model_dir):
    folder = str(model_dir("text-classification"))
    handle = load("text-classification")["handle"]
    fails(worker, "model/load", {"model": folder, "device": "tpu"}, INVALID_PARAMS, "device")
    fails(worker, "model/load", {"model": folder, "device": "cuda:3"}, INVALID_PARAMS, "CUDA")
    fails(worker, "model/load", {"model": folder, "dtype": "float8"}, INVALID_PARAMS)
    fails(worker, "model/load", {"model": folder, "options": {"dtype": "float16"}}, INVALID_PARAMS, "dtype")
    fails(worker, "model/load", {"model": folder, "batching": {"max_batch_size": 0}}, INVALID_PARAMS)
    fails(worker, "model/load", {"model": folder, "colour": "red"}, INVALID_PARAMS, "colour")
    fails(worker, "model/run", run_params(handle, "hi", top_k="three"), INVALID_PARAMS, "top_k")
    fails(worker, "model/run", run_params(handle, "hi", temperature=0.5), INVALID_PARAMS, "temperature")
    zero_shot = load("zero-shot-classification", task="zero-shot-classification")["handle"]
    fails(worker, "model/run", run_params(zero_shot, "hi"), INVALID_PARAMS, "candidate_labels")
    fails(
        worker, "model/run", run_params(load("fill-mask")["handle"], "no mask here"), INVALID_INPUT, "[MASK]"
    )


@pytest.mark.parametrize(
    ("parameter", "value", "words"),
    [
        ("temperature", float("nan"), ">= 0.0"),
        ("temperature", float("inf"), "<= 100.0"),
        ("temperature", 0.0, "greedy"),  # with do_sample true; without it, 0 is greedy decoding
        ("top_p", 1.5, "<= 1.0"),
        ("top_p", float("nan"), "> 0.0"),
        ("top_k", -5, ">= 0"),
        ("repetition_penalty", -1.0, "> 0.0"),
        ("no_repeat_ngram_size", -1, ">= 0"),
        ("num_beams", 0, ">= 1"),  # was a ZeroDivisionError (-32000)
        ("num_beams", 1_000_000, "<= 16"),  # was served until the machine ran out of memory
        ("num_return_sequences", 1_000_000, "<= 16"),
        ("max_new_tokens", 0, ">= 1"),
        ("stop", [""], "length >= 1"),
        ("stop", ["x"] * 17, "length <= 16"),
    ],
)
def test_generation_parameters_out_of_range_are_refused_before_any_work(
    worker, load, parameter, value, words
):
    handle = load("text-generation")["handle"]
    params = run_params(handle, "hello", do_sample=True, **{parameter: value})
    fails(worker, "model/run", params, INVALID_PARAMS, parameter, words)


def test_generation_stays_within_the_positions_the_model_holds(worker, load):
    # The tiny GPT-2 holds 4096 positions: past them its position table has no row (IndexError half-way).
    handle = load("text-generation")["handle"]
    fails(
        worker,
        "model/run",
        run_params(handle, "hello", max_new_tokens=5000),
        INVALID_PARAMS,
        "4096 positions",
    )
    fails(worker, "model/run", run_params(handle, "hi " * 5000), INVALID_INPUT, "no room is left")
    beams = run_params(handle, "hello", num_beams=2, num_return_sequences=3, do_sample=True)
    fails(worker, "model/run", beams, INVALID_PARAMS, "num_return_sequences", "num_beams")
    greedy = run_params(handle, "hello", num_return_sequences=3)
    fails(worker, "model/run", greedy, INVALID_PARAMS, "num_return_sequences", "do_sample")
    # A list is checked whole before any of it generates: no progress from the first prompt.
    heard: list[Any] = []
    with pytest.raises(WorkerCallError) as caught:
        worker.call(
            "model/run", run_params(handle, ["hello", "hi " * 5000]), on_progress=heard.append, timeout=60
        )
    assert caught.value.code == INVALID_INPUT and heard == []
    # Within the bounds it generates, as many sequences as asked.
    done = worker.call(
        "model/run", run_params(handle, "hello", num_beams=3, num_return_sequences=3, max_new_tokens=2)
    )
    assert len(done) == 3 and all(isinstance(d["generated_text"], str) for d in done)


def test_temperature_zero_is_greedy_decoding_and_top_k_zero_keeps_every_token(worker, load):
    handle = load("text-generation")["handle"]
    greedy = worker.call(
        "model/run", run_params(handle, "hello", do_sample=False, max_new_tokens=6), timeout=60
    )
    zero = worker.call("model/run", run_params(handle, "hello", temperature=0, max_new_tokens=6), timeout=60)
    assert zero == greedy
    sampled = run_params(handle, "hello", do_sample=True, top_k=0, seed=3, max_new_tokens=4)
    assert isinstance(worker.call("model/run", sampled, timeout=60)[0]["generated_text"], str)


def test_a_model_that_samples_by_default_returns_several_sequences(worker, model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "sampling-gpt2"
    shutil.copytree(model_dir("text-generation"), folder)
    config = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**config, "do_sample": True}))
    handle = worker.call("model/load", {"model": str(folder)}, timeout=120)["handle"]
    # Its generation config samples, so no do_sample is needed (this was refused for a moment).
    done = worker.call(
        "model/run", run_params(handle, "hello", num_return_sequences=2, max_new_tokens=3), timeout=60
    )
    assert len(done) == 2
    worker.call("model/unload", {"handle": handle}, timeout=60)


@pytest.mark.parametrize(
    ("model", "parameters", "words"),
    [
        ("fill-mask", {"top_k": 0}, ("top_k", ">= 1")),
        ("text-classification", {"top_k": -1}, ("top_k", ">= 1")),
        ("token-classification", {"stride": -2}, ("stride", ">= 0")),
        ("token-classification", {"stride": 10**9}, ("stride", "128-token window")),  # was -32000
        ("zero-shot-classification", {"candidate_labels": ["x"] * 1025}, ("candidate_labels", "<= 1024")),
        ("seq2seq", {"num_beams": 17}, ("num_beams", "<= 16")),
        ("seq2seq", {"temperature": float("nan"), "do_sample": True}, ("temperature",)),
        # The tiny BART's decoder holds 128 positions, one taken by its start token.
        ("seq2seq", {"max_new_tokens": 500}, ("128 positions", "at most 127")),
        ("object-detection", {"threshold": 1.5}, ("threshold", "<= 1.0")),
    ],
)
def test_numbers_out_of_range_are_refused_for_every_task_that_takes_them(
    worker, load, model, parameters, words
):
    handle = load(model, task=model if model.startswith("zero-shot") else None)["handle"]
    inputs: Any = "hello [MASK]" if model == "fill-mask" else "hello"
    if model == "object-detection":
        inputs = {"bytes": media.encode_image(media.picture(), "PNG")}
    fails(worker, "model/run", run_params(handle, inputs, **parameters), INVALID_PARAMS, *words)


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"num_beams": 0}, ("num_beams", ">= 1")),
        ({"max_new_tokens": 1000}, ("128 positions", "at most 124")),  # was a ValueError half-way (-32000)
        ({"chunk_length_s": 0.001}, ("chunk_length_s", ">= 1.0")),  # 1,500 forward passes for 1.5 s
        ({"chunk_length_s": 2.0, "stride_length_s": 1.0}, ("stride_length_s", "at least 1 s")),
        # 4 samples between chunks once rounded: 14 million forward passes an hour.
        ({"chunk_length_s": 1.0, "stride_length_s": 0.4999}, ("stride_length_s", "at least 1 s")),
    ],
)
def test_speech_recognition_numbers_out_of_range_are_refused(worker, load, parameters, words):
    handle = load("whisper")["handle"]
    audio = {"bytes": media.encode_audio(media.tone(1.5, 16_000), 16_000, "WAV")}
    fails(worker, "model/run", run_params(handle, audio, **parameters), INVALID_PARAMS, *words)


def test_fill_mask_answers_every_candidate_when_top_k_is_past_the_vocabulary(worker, load):
    handle = load("fill-mask")["handle"]
    answers = worker.call("model/run", run_params(handle, "hello [MASK]", top_k=10**9), timeout=60)
    assert len(answers) == 30522  # the tiny model's real BERT vocabulary (was -32000: topk out of range)


def test_question_answering_returns_at_most_1024_answers(worker, load):
    # Every span of the context is a candidate: top_k and max_answer_len of a billion on a 50 KB
    # context held 1.3 GB of them on the tiny model (more with a real model's longer windows).
    handle = load("question-answering")["handle"]
    question = {"question": "what?", "context": "word " * 2000}
    fails(worker, "model/run", run_params(handle, question, top_k=1025), INVALID_PARAMS, "top_k", "<= 1024")
    answers = worker.call("model/run", run_params(handle, question, top_k=1024, max_answer_len=10**9))
    assert len(answers) == 1024
    assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)


def test_question_answering_runs_the_windows_of_a_long_context_a_few_at_a_time(worker, load):
    # 2 MB of context is about 3,000 windows of the tiny model's 128 tokens; in one forward pass they
    # took 1.4 GB more (a real model's 384-token windows and wider layers take tens of GB).
    handle = load("question-answering")["handle"]
    pid = worker.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    before = _memory_kib(pid, "VmHWM")
    answer = worker.call(
        "model/run", run_params(handle, {"question": "what?", "context": "word " * 400_000}), timeout=120
    )
    assert answer["answer"].startswith("word")
    assert _memory_kib(pid, "VmHWM") - before < 700 * 1024


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_the_worker_still_runs_models_after_all_of_that(worker, load):
    handle = load("text-classification")["handle"]
    assert set(worker.call("model/run", run_params(handle, "still fine"))) == {"label", "score"}


def _write_remote_code_model(folder: Path) -> None:
    """A model folder whose config points at its own Python code (which would write a file if run)."""
    import json

    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "remote-thing",
                "auto_map": {
                    "AutoConfig": "configuration_remote.RemoteConfig",
                    "AutoModel": "modeling_remote.RemoteModel",
                },
            }
        )
    )
    code = f"open({str(folder / 'executed')!r}, 'w').write('ran')\n"
    (folder / "configuration_remote.py").write_text(
        code + "from transformers import PretrainedConfig\n"
        "class RemoteConfig(PretrainedConfig):\n    model_type = 'remote-thing'\n"
    )
    (folder / "modeling_remote.py").write_text(code)
