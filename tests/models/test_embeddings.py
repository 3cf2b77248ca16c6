"""Embeddings through the real worker: feature-extraction, sentence embeddings pooled as the
folder's sentence-transformers config says, the bundled MiniLM against sentence-transformers
in-process, ``keep: true`` with tensor/search, and dynamic batching of concurrent calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models.builders import minilm_folder
from tests.models.conftest import running_worker
from worker.client import WorkerCallError

pytestmark = pytest.mark.models

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCES = [
    "A man is eating food.",
    "A man is riding a horse.",
    "The new movie is awesome.",
    "The cat sits outside the house.",
    "Worker processes keep models in memory between requests.",
]


def run(worker: Any, handle: str, inputs: Any, keep: bool = False, **parameters: Any) -> Any:
    params = {"handle": handle, "inputs": inputs, "parameters": parameters, "keep": keep}
    return worker.call("model/run", params, timeout=60)


def reference_tokens(folder: Path, texts: list[str]) -> tuple[Any, Any]:
    """Token vectors and attention mask computed in this process with transformers directly."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**encoded).last_hidden_state
    return hidden, encoded["attention_mask"]


def test_feature_extraction_returns_one_vector_per_token(worker, load, model_dir):
    model = load("feature-extraction")
    assert model["task"] == "feature-extraction"  # a bare BertModel
    texts = ["hello world", "a somewhat longer sentence than the first"]
    vectors = run(worker, model["handle"], texts)
    hidden, mask = reference_tokens(model_dir("feature-extraction"), texts)
    for i, got in enumerate(vectors):
        tokens = int(mask[i].sum())
        assert np.asarray(got).shape == (1, tokens, 32)  # [1, tokens, hidden] like the pipeline, no padding
        np.testing.assert_allclose(got[0], hidden[i, :tokens].numpy(), atol=1e-5)
    kept = run(worker, model["handle"], texts, keep=True)  # different lengths: one tensor per text
    assert [k["shape"] for k in kept] == [[1, int(mask[i].sum()), 32] for i in range(len(texts))]
    worker.call("tensor/free", {"handles": [k["handle"] for k in kept]})


@pytest.mark.parametrize(
    "name, pooling, normalized",
    [
        ("sentence-embeddings", "cls", True),
        ("sentence-embeddings-mean", "mean", False),
    ],
)
def test_sentence_embeddings_pool_and_normalise_as_the_folder_says(
    worker, load, model_dir, name, pooling, normalized
):
    model = load(name)
    assert model["task"] == "sentence-embeddings"  # modules.json says sentence-transformers
    got = np.asarray(run(worker, model["handle"], SENTENCES))
    hidden, mask = reference_tokens(model_dir(name), SENTENCES)
    if pooling == "cls":
        expected = hidden[:, 0]
    else:
        weights = mask.unsqueeze(-1).float()
        expected = (hidden * weights).sum(1) / weights.sum(1)
    expected = expected.numpy()
    if normalized:
        expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    assert got.shape == (len(SENTENCES), 32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0) == normalized


def test_minilm_embeddings_equal_sentence_transformers_in_process(worker):
    from sentence_transformers import SentenceTransformer

    model = worker.call("model/load", {"model": MINILM}, timeout=120)
    assert model["task"] == "sentence-embeddings" and model["source"] == "bundled"  # offline, empty HF cache
    got = np.asarray(run(worker, model["handle"], SENTENCES), dtype=np.float64)
    reference = SentenceTransformer(str(minilm_folder()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_numpy=True).astype(np.float64)
    assert got.shape == expected.shape == (len(SENTENCES), 384)
    cosine = (got * expected).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosine.min() >= 0.9999, cosine
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # MiniLM's Normalize module


def test_kept_embeddings_stay_in_the_worker_and_can_be_searched(worker):
    model = worker.call("model/load", {"model": MINILM}, timeout=120)
    corpus = run(worker, model["handle"], SENTENCES, keep=True)
    assert corpus["dtype"] == "float32" and corpus["shape"] == [len(SENTENCES), 384]
    assert corpus["nbytes"] == len(SENTENCES) * 384 * 4
    values = worker.call("tensor/get", {"handle": corpus["handle"]})
    kept = np.frombuffer(values["data"], dtype="<f4").reshape(values["shape"])
    np.testing.assert_allclose(kept, np.asarray(run(worker, model["handle"], SENTENCES)), atol=1e-6)

    single = run(worker, model["handle"], "A man rides a horse.", keep=True)
    assert single["shape"] == [384]
    hits = worker.call(
        "tensor/search",
        {
            "query": {"text": "Someone on horseback", "model": model["handle"]},
            "corpus": corpus["handle"],
            "top_k": 2,
        },
    )
    assert hits[0]["index"] == 1  # "A man is riding a horse."
    by_handle = worker.call(
        "tensor/search", {"query": single["handle"], "corpus": corpus["handle"], "top_k": 1}
    )
    assert by_handle[0]["index"] == 1
    worker.call("tensor/free", {"handles": [corpus["handle"], single["handle"]]})


def test_keep_is_refused_for_tasks_that_return_values(worker, load):
    model = load("text-classification")
    with pytest.raises(WorkerCallError) as caught:
        run(worker, model["handle"], "hi", keep=True)
    assert caught.value.code == -32602


def test_concurrent_requests_are_coalesced_and_each_gets_its_own_result(worker, model_dir):
    model = worker.call(
        "model/load",
        {
            "model": str(model_dir("sentence-embeddings")),
            "batching": {"max_batch_size": 8, "max_delay_ms": 100},
        },
    )
    assert model["batching"] == {"max_batch_size": 8, "max_delay_ms": 100.0}
    texts = [f"sentence number {i} about {word}" for i, word in enumerate(["cats", "dogs", "rain"] * 8)]
    alone = [run(worker, model["handle"], text) for text in texts]
    before = _batches_run(worker, model["handle"])
    with ThreadPoolExecutor(len(texts)) as pool:
        together = list(pool.map(lambda text: run(worker, model["handle"], text), texts))
    batches = _batches_run(worker, model["handle"]) - before
    assert batches <= len(texts) // 2, f"{len(texts)} concurrent requests ran in {batches} forward passes"
    for mine, reference in zip(together, alone, strict=True):
        np.testing.assert_allclose(mine, reference, atol=1e-5)


def test_a_cancelled_caller_does_not_disturb_the_others_in_its_batch(model_dir, hf_home, tmp_path):
    # The 12 calls gather in one batch that is never full (max_batch_size 16), so it waits max_delay_ms,
    # 2 s, for company: long enough for every cancel to land while it gathers. A test/sleep is held in
    # flight meanwhile, because with nothing else in flight the batcher would not wait at all. (The
    # 12 calls made one by one before that do not wait either.)
    with running_worker(tmp_path, hf_home, "--enable-test-methods") as worker:
        model = worker.call(
            "model/load",
            {
                "model": str(model_dir("sentence-embeddings")),
                "batching": {"max_batch_size": 16, "max_delay_ms": 2000},
            },
            timeout=120,
        )
        texts = [f"text {i}" for i in range(12)]
        expected = [run(worker, model["handle"], text) for text in texts]
        sleeper = worker.send("test/sleep", {"seconds": 60})
        calls = [worker.send("model/run", {"handle": model["handle"], "inputs": text}) for text in texts]
        for call in calls[::3]:
            worker.cancel(call)
        for i, call in enumerate(calls):
            if i % 3 == 0:
                with pytest.raises(WorkerCallError) as caught:
                    worker.result(call, timeout=30)
                assert caught.value.code == -32800
            else:
                np.testing.assert_allclose(worker.result(call, timeout=30), expected[i], atol=1e-5)
        worker.cancel(sleeper)


def test_one_caller_at_a_time_never_waits_for_company(worker, model_dir):
    # The longest max_delay_ms (10 s): were a lone request to wait for company, each call would time out.
    model = worker.call(
        "model/load",
        {
            "model": str(model_dir("sentence-embeddings")),
            "batching": {"max_batch_size": 8, "max_delay_ms": 10_000},
        },
    )
    before = _batches_run(worker, model["handle"])
    for text in ["one", "after", "another"]:
        assert len(worker.call("model/run", {"handle": model["handle"], "inputs": text}, timeout=5)) > 0
    assert _batches_run(worker, model["handle"]) - before == 3


def _batches_run(worker: Any, handle: str) -> int:
    return next(m["batches_run"] for m in worker.call("model/list")["models"] if m["handle"] == handle)
