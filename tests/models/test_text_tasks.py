"""Text tasks through the real worker: text-classification, token-classification,
question-answering, fill-mask, zero-shot-classification (tiny random-weight models loaded by path)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.models


def run(worker: Any, handle: str, inputs: Any, **parameters: Any) -> Any:
    return worker.call(
        "model/run", {"handle": handle, "inputs": inputs, "parameters": parameters}, timeout=60
    )


def test_text_classification_returns_a_label_and_score_per_text(worker, load):
    model = load("text-classification")
    assert model["task"] == "text-classification"  # told by the config's architecture
    single = run(worker, model["handle"], "I loved it")
    assert set(single) == {"label", "score"}
    assert single["label"] in {"NEGATIVE", "POSITIVE"} and 0.0 <= single["score"] <= 1.0

    batch = run(worker, model["handle"], ["I loved it", {"text": "I hated it"}, "meh"])
    assert len(batch) == 3 and all(set(r) == {"label", "score"} for r in batch)
    assert batch[0] == pytest.approx(single)

    both = run(worker, model["handle"], "I loved it", top_k=2)
    assert sorted(r["label"] for r in both) == ["NEGATIVE", "POSITIVE"]
    assert sum(r["score"] for r in both) == pytest.approx(1.0, abs=1e-5)
    assert both[0]["score"] >= both[1]["score"]


def test_token_classification_returns_entities_with_character_offsets(worker, load):
    model = load("token-classification")
    text = "John Smith lives in Paris"
    entities = run(worker, model["handle"], text, ignore_labels=[])
    assert len(entities) == 5  # one per word piece (all five words are in the BERT vocabulary)
    for entity in entities:
        assert entity["entity"] in {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"}
        assert text[entity["start"] : entity["end"]].lower() == entity["word"].lower()
        assert isinstance(entity["index"], int) and 0.0 <= entity["score"] <= 1.0

    grouped = run(worker, model["handle"], [text, "Paris"], aggregation_strategy="simple", ignore_labels=[])
    assert len(grouped) == 2
    assert all("entity_group" in e for e in grouped[0])


def test_question_answering_finds_a_span_of_the_context(worker, load):
    model = load("question-answering")
    assert model["task"] == "question-answering"
    context = "John lives in Paris with his dog. " * 3
    answer = run(worker, model["handle"], {"question": "Where does John live?", "context": context})
    assert set(answer) == {"score", "start", "end", "answer"}
    assert 0 <= answer["start"] < answer["end"] <= len(context)
    assert context[answer["start"] : answer["end"]] == answer["answer"]
    assert 0.0 < answer["score"] <= 1.0

    top = run(worker, model["handle"], {"question": "Where?", "context": context}, top_k=3, max_answer_len=4)
    assert len(top) == 3
    assert [a["score"] for a in top] == sorted((a["score"] for a in top), reverse=True)
    assert all(context[a["start"] : a["end"]] == a["answer"] for a in top)


def test_question_answering_reads_a_context_longer_than_the_model_in_windows(worker, load):
    model = load("question-answering")
    context = " ".join(f"sentence {i} is about the city of paris and its river." for i in range(60))
    answer = run(
        worker,
        model["handle"],
        {"question": "What river?", "context": context},
        max_seq_len=64,
        doc_stride=16,
    )
    assert context[answer["start"] : answer["end"]] == answer["answer"]
    assert answer["end"] - answer["start"] > 0


def test_fill_mask_fills_the_mask_token(worker, load):
    model = load("fill-mask")
    assert model["task"] == "fill-mask"
    fills = run(worker, model["handle"], "paris is the [MASK] of france", top_k=3)
    assert len(fills) == 3
    assert all(set(f) == {"score", "token", "token_str", "sequence"} for f in fills)
    assert [f["score"] for f in fills] == sorted((f["score"] for f in fills), reverse=True)

    targets = ["capital", "city", "river"]
    chosen = run(worker, model["handle"], "paris is the [MASK] of france", targets=targets, top_k=3)
    assert sorted(f["token_str"] for f in chosen) == targets
    for fill in chosen:
        assert fill["sequence"] == f"paris is the {fill['token_str']} of france"

    batch = run(worker, model["handle"], ["a [MASK] day", "the [MASK] is red"], top_k=2)
    assert len(batch) == 2 and all(len(b) == 2 for b in batch)


def test_zero_shot_classification_scores_every_candidate_label(worker, load):
    model = load("zero-shot-classification", task="zero-shot-classification")
    labels = ["animals", "cars", "politics"]
    result = run(worker, model["handle"], "the cat sat on the mat", candidate_labels=labels)
    assert result["sequence"] == "the cat sat on the mat"
    assert sorted(result["labels"]) == sorted(labels)
    assert sum(result["scores"]) == pytest.approx(1.0, abs=1e-5)
    multi = run(worker, model["handle"], ["a", "b"], candidate_labels=labels, multi_label=True)
    assert len(multi) == 2 and all(0.0 <= s <= 1.0 for r in multi for s in r["scores"])


def test_sentiment_analysis_is_an_alias_of_text_classification(worker, load):
    model = load("text-classification", task="sentiment-analysis")
    assert model["task"] == "text-classification"
    assert model["handle"] == load("text-classification")["handle"]  # the same model, one copy
