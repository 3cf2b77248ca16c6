"""Generation through the real worker: text-generation (streamed as $/progress, cancelled within a
decoding step), summarization, translation and text2text-generation."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from worker.client import WorkerCallError

pytestmark = pytest.mark.models

PROMPT = "hello world, this is"


def run(worker: Any, handle: str, inputs: Any, on_progress: Any = None, **parameters: Any) -> Any:
    params = {"handle": handle, "inputs": inputs, "parameters": parameters}
    return worker.call("model/run", params, on_progress=on_progress, timeout=120)


def test_text_generation_continues_the_prompt(worker, load):
    model = load("text-generation")
    assert model["task"] == "text-generation"
    full = run(worker, model["handle"], PROMPT, max_new_tokens=8, min_new_tokens=8)
    assert isinstance(full, list) and len(full) == 1
    text = full[0]["generated_text"]
    continuation = run(
        worker, model["handle"], PROMPT, max_new_tokens=8, min_new_tokens=8, return_full_text=False
    )
    # Greedy decoding is deterministic: the full text is the prompt and then the same continuation.
    assert text == PROMPT + continuation[0]["generated_text"]
    assert len(continuation[0]["generated_text"]) > 0

    batch = run(worker, model["handle"], [PROMPT, "the quick"], max_new_tokens=4, min_new_tokens=4)
    assert len(batch) == 2 and batch[0][0]["generated_text"].startswith(PROMPT)
    assert batch[1][0]["generated_text"].startswith("the quick")

    sampled = run(
        worker, model["handle"], PROMPT, max_new_tokens=6, do_sample=True, num_return_sequences=3, seed=1
    )
    assert len(sampled) == 3 and all(s["generated_text"].startswith(PROMPT) for s in sampled)


def test_text_generation_streams_each_new_piece_as_progress(worker, load):
    model = load("text-generation")
    pieces: list[dict[str, Any]] = []
    result = run(
        worker,
        model["handle"],
        PROMPT,
        on_progress=pieces.append,
        max_new_tokens=24,
        min_new_tokens=24,
        return_full_text=False,
    )
    assert len(pieces) > 3  # streamed as produced, not once at the end
    assert all(p["index"] == 0 and p["text"] for p in pieces)
    assert "".join(p["text"] for p in pieces) == result[0]["generated_text"]


def test_cancelling_a_generation_stops_it_within_a_decoding_step(worker, load):
    model = load("text-generation")
    pieces: list[str] = []
    streaming = threading.Event()

    def collect(value: dict[str, Any]) -> None:
        pieces.append(value["text"])
        if len(pieces) >= 5:
            streaming.set()

    # 4000 tokens would take many seconds even for this tiny model.
    call = worker.send(
        "model/run",
        {
            "handle": model["handle"],
            "inputs": PROMPT,
            "parameters": {"max_new_tokens": 4000, "min_new_tokens": 4000},
        },
        on_progress=collect,
    )
    assert streaming.wait(60)
    cancelled_at = time.monotonic()
    worker.cancel(call)
    with pytest.raises(WorkerCallError) as caught:
        worker.result(call, timeout=10)
    assert caught.value.code == -32800
    # The handler thread itself ends promptly: generation stopped, it did not run on unobserved.
    while worker.call("worker/info", timeout=10)["running_handlers"] > 0:
        assert time.monotonic() - cancelled_at < 5.0, "generation kept running after $/cancelRequest"
        time.sleep(0.01)
    assert len(pieces) < 1000
    assert worker.call("worker/ping", {"after": "cancel"}) == {"after": "cancel"}


def test_summarization_translation_and_text2text_share_a_seq2seq_model(worker, load):
    summarizer = load("seq2seq", task="summarization")
    translator = load("seq2seq", task="translation")
    general = load("seq2seq", task="text2text-generation")
    assert len({summarizer["handle"], translator["handle"], general["handle"]}) == 3
    text = "speech recognition and translation of short texts in a worker process"
    summary = run(worker, summarizer["handle"], text, max_new_tokens=6, min_new_tokens=6)
    assert list(summary[0]) == ["summary_text"] and isinstance(summary[0]["summary_text"], str)
    assert len(summary[0]["summary_text"]) > 0
    translation = run(worker, translator["handle"], [text, "hello"], max_new_tokens=6, min_new_tokens=6)
    assert len(translation) == 2 and all(list(t[0]) == ["translation_text"] for t in translation)
    generated = run(worker, general["handle"], text, max_new_tokens=6, min_new_tokens=6)
    assert list(generated[0]) == ["generated_text"]


def test_seq2seq_generation_streams_too(worker, load):
    summarizer = load("seq2seq", task="summarization")
    pieces: list[dict[str, Any]] = []
    summary = run(
        worker,
        summarizer["handle"],
        "a tiny corpus",
        on_progress=pieces.append,
        max_new_tokens=12,
        min_new_tokens=12,
    )
    assert pieces and "".join(p["text"] for p in pieces).strip() == summary[0]["summary_text"]


def test_generation_stops_at_a_stop_string(worker, load):
    model = load("text-generation")
    free = run(worker, model["handle"], PROMPT, max_new_tokens=40, min_new_tokens=40, return_full_text=False)
    text = free[0]["generated_text"]
    stop = text[10:13]  # a piece of what greedy decoding will produce again
    stopped = run(worker, model["handle"], PROMPT, max_new_tokens=40, return_full_text=False, stop=[stop])
    cut = stopped[0]["generated_text"]
    # Stopped early, on the same path, no later than the token where the stop string completes.
    assert text.startswith(cut) and len(cut) < len(text)
    assert stop in text[: len(cut) + len(stop)]


def test_chat_messages_are_formatted_with_the_chat_template(worker, load):
    model = load("chat-generation")
    chat = [{"role": "user", "content": "hello world"}]
    reply = run(worker, model["handle"], {"messages": chat}, max_new_tokens=5, min_new_tokens=5)
    conversation = reply[0]["generated_text"]
    assert conversation[:1] == chat and conversation[1]["role"] == "assistant"
    only = run(
        worker,
        model["handle"],
        {"messages": chat},
        max_new_tokens=5,
        min_new_tokens=5,
        return_full_text=False,
    )
    assert only[0]["generated_text"] == conversation[1]["content"]


def test_chat_messages_need_a_chat_template(worker, load):
    model = load("text-generation")
    with pytest.raises(WorkerCallError) as caught:
        run(worker, model["handle"], {"messages": [{"role": "user", "content": "hi"}]})
    assert caught.value.code == -32006 and "chat template" in caught.value.message


def test_generation_parameters_are_checked(worker, load):
    model = load("text-generation")
    with pytest.raises(WorkerCallError) as caught:
        run(worker, model["handle"], PROMPT, max_tokens=5)
    assert caught.value.code == -32602 and "max_tokens" in caught.value.message
