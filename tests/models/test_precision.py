"""dtype "auto" picks bfloat16 on a CPU that computes it natively, after a load-time check against
float32, and says why in the load result's ``precision``; an explicit dtype is never checked.

This machine may or may not have AMX or AVX-512 BF16, so each worker here names ``--native-bf16``:
``yes`` takes the bfloat16 branch on any CPU (emulated bfloat16 is slow, not wrong), ``no`` the float32
one. The classifiers whose check must pass or fail are tiny random models with a hand-set head.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models.conftest import running_worker
from worker.client import WorkerClient

pytestmark = pytest.mark.models

TEXTS = ["the quick brown fox", "hello world, this is a test", "a red square on white"]


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory, hf_home: Path) -> Iterator[WorkerClient]:
    """A worker that treats this CPU as computing bfloat16 natively."""
    with running_worker(tmp_path_factory.mktemp("native-log"), hf_home, "--native-bf16", "yes") as client:
        yield client


@pytest.fixture(scope="module")
def classifier(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Callable[[str], Path]
) -> Callable[..., str]:
    """``classifier(bias)``: the tiny text classifier with its head replaced by a constant: zero
    weights and the given bias, so its logits are exactly ``bias`` whatever the text."""
    root = tmp_path_factory.mktemp("classifiers")

    def build(bias: list[float]) -> str:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = model_dir("text-classification")
        folder = root / "_".join(str(b) for b in bias)
        model = AutoModelForSequenceClassification.from_pretrained(str(source))
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(bias))
        model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(str(source)).save_pretrained(folder)
        return str(folder)

    return build


def load(worker: WorkerClient, folder: Path | str, **params: Any) -> dict[str, Any]:
    return worker.call("model/load", {"model": str(folder), **params}, timeout=120)


def embed(worker: WorkerClient, handle: str) -> np.ndarray:
    return np.asarray(worker.call("model/run", {"handle": handle, "inputs": TEXTS}), dtype=np.float64)


def test_auto_runs_embeddings_in_bfloat16_when_the_check_passes(native, model_dir):
    folder = model_dir("sentence-embeddings")
    auto = load(native, folder)
    precision = auto["precision"]
    assert auto["dtype"] == precision["chosen"] == "bfloat16"
    assert 0.999 <= precision["cosine"] <= 1.0 and precision["max_probability_difference"] is None
    assert "matched float32" in precision["reason"] and "cosine" in precision["reason"]

    full = load(native, folder, dtype="float32")
    assert full["handle"] != auto["handle"]  # a checked auto load is its own identity
    assert auto["memory_bytes"] == pytest.approx(full["memory_bytes"] / 2, rel=0.01)
    a, b = embed(native, auto["handle"]), embed(native, full["handle"])
    cosines = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosines.min() >= 0.999
    assert a.shape == b.shape and not np.array_equal(a, b)  # really another precision


def test_model_list_shows_the_precision_chosen(native, model_dir):
    loaded = load(native, model_dir("feature-extraction"))
    listed = {m["handle"]: m for m in native.call("model/list")["models"]}[loaded["handle"]]
    assert listed["precision"] == loaded["precision"] and listed["dtype"] == loaded["dtype"] == "bfloat16"


def test_an_explicit_dtype_is_never_checked(native, model_dir):
    folder = model_dir("text-classification")
    for dtype in ("float32", "bfloat16"):
        loaded = load(native, folder, dtype=dtype)
        assert loaded["dtype"] == dtype
        assert loaded["precision"] == {
            "chosen": dtype,
            "reason": "requested",
            "cosine": None,
            "max_probability_difference": None,
        }


def test_a_decisive_classifier_keeps_its_label_in_bfloat16(native, classifier):
    loaded = load(native, classifier([0.0, 3.0]))
    precision = loaded["precision"]
    assert loaded["dtype"] == precision["chosen"] == "bfloat16"
    assert 0.0 <= precision["max_probability_difference"] <= 0.01 and precision["cosine"] is None
    assert "same top labels" in precision["reason"]
    assert native.call("model/run", {"handle": loaded["handle"], "inputs": "hi"})["label"] == "POSITIVE"


def test_a_classifier_whose_top_label_flips_in_bfloat16_stays_float32(native, classifier):
    # 100.05 is not a bfloat16 (its neighbours are 100 and 100.5): in bfloat16 the two labels tie.
    folder = classifier([100.0, 100.05])
    auto = load(native, folder)
    precision = auto["precision"]
    assert auto["dtype"] == precision["chosen"] == "float32"
    assert "a different top label" in precision["reason"] and "reloaded in float32" in precision["reason"]
    assert precision["max_probability_difference"] == pytest.approx(0.0125, abs=0.001)

    # Reloaded from the files, not converted back: exactly the float32 model's answer.
    full = load(native, folder, dtype="float32")
    run = {"inputs": "hi", "parameters": {"top_k": 2}}
    got = native.call("model/run", {"handle": auto["handle"], **run})
    assert got == native.call("model/run", {"handle": full["handle"], **run})
    assert got[0]["label"] == "POSITIVE"


@pytest.mark.parametrize(
    "name",
    [
        "token-classification",
        "fill-mask",
        "question-answering",
        "zero-shot-classification",
        "image-classification",
    ],
)
def test_every_classifier_task_runs_its_probe(native, model_dir, name):
    loaded = load(native, model_dir(name), task=name)
    precision = loaded["precision"]
    assert "could not run" not in precision["reason"]
    assert precision["max_probability_difference"] is not None and precision["cosine"] is None
    assert (precision["chosen"] == "bfloat16") == (precision["max_probability_difference"] <= 0.01) or (
        "a different top label" in precision["reason"]
    )


def test_generation_keeps_float32(native, model_dir):
    loaded = load(native, model_dir("text-generation"))
    assert loaded["dtype"] == "float32"
    assert "text-generation keeps float32" in loaded["precision"]["reason"]


def test_without_native_bfloat16_auto_is_float32_unchecked(tmp_path, hf_home, model_dir):
    with running_worker(tmp_path, hf_home, "--native-bf16", "no") as plain:
        loaded = load(plain, model_dir("sentence-embeddings"))
        assert loaded["dtype"] == "float32"
        assert loaded["precision"] == {
            "chosen": "float32",
            "reason": "--native-bf16 no: float32 on the CPU",
            "cosine": None,
            "max_probability_difference": None,
        }
        # Nothing to check, so the auto load and an explicit float32 load are one copy.
        assert load(plain, model_dir("sentence-embeddings"), dtype="float32")["handle"] == loaded["handle"]
