"""model/export: the folder it writes runs in onnxruntime (no worker, no torch model) to the worker's numbers,
its manifest says what an app needs, progress is reported, and outputs it must not write are refused."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models.conftest import running_worker
from tests.models.onnx.conftest import assert_close, load, run
from worker.client import WorkerCallError, WorkerClient

pytestmark = pytest.mark.models

TEXTS = ["the quick brown fox jumps over the lazy dog", "hello world"]


def export(worker: WorkerClient, **params: Any) -> tuple[dict[str, Any], list[str]]:
    stages: list[str] = []
    result = worker.call(
        "model/export", params, timeout=300, on_progress=lambda value: stages.append(value["stage"])
    )
    return result, stages


def session(folder: Path) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])


def feeds(folder: Path, manifest: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """The graph's inputs from the exported tokenizer alone, as an app would make them."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoded = tokenizer(
        texts, padding=True, truncation=True, max_length=manifest["max_length"], return_tensors="np"
    )
    return {spec["name"]: encoded[spec["name"]].astype(np.int64) for spec in manifest["inputs"]}


def test_an_exported_sentence_model_runs_in_onnxruntime_to_the_workers_numbers(
    worker: WorkerClient, model_dir: Callable[[str], Path], tmp_path: Path
):
    folder = model_dir("sentence-embeddings")
    output = tmp_path / "minilm-onnx"
    result, stages = export(worker, model=str(folder), output=str(output))

    assert result["output"] == str(output) and result["task"] == "sentence-embeddings"
    assert result["manifest"] == str(output / "hf-worker-export.json")
    assert {"model.onnx", "tokenizer.json", "config.json", "hf-worker-export.json"} <= set(result["files"])
    assert sorted(p.name for p in output.iterdir()) == result["files"]
    assert stages[-2:] == ["writing", "ready"]
    if not result["cached"]:
        assert stages.index("exporting") < stages.index("checking") < stages.index("writing")
    manifest = json.loads((output / "hf-worker-export.json").read_text(encoding="utf-8"))
    assert manifest["task"] == "sentence-embeddings" and manifest["dtype"] == "float32"
    assert manifest["pooling"] == ["cls"] and manifest["normalize"] is True
    assert manifest["tokenizer"] == "tokenizer.json" and manifest["max_length"] == 64
    # For apps whose BERT tokenizer reads a vocabulary file: the same tokens, in id order.
    assert manifest["vocab"] == "vocab.txt"
    tokenizer = json.loads((output / "tokenizer.json").read_text(encoding="utf-8"))
    tokens = (output / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert {token: index for index, token in enumerate(tokens)} == tokenizer["model"]["vocab"]
    assert [o["name"] for o in manifest["outputs"]] == ["last_hidden_state", "sentence_embedding"]
    assert manifest["check"] == result["onnx"]["check"] and manifest["check"]["cosine"] >= 0.999

    (vectors,) = session(output).run(["sentence_embedding"], feeds(output, manifest, TEXTS))
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # the manifest's normalize
    torch_model, _ = load(worker, folder, dtype="float32")
    assert_close(run(worker, torch_model["handle"], TEXTS), vectors.tolist())


def test_a_loaded_classifier_exports_by_handle_with_its_labels(
    worker: WorkerClient, model_dir: Callable[[str], Path], tmp_path: Path
):
    loaded, _ = load(worker, model_dir("text-classification"), dtype="float32")
    output = tmp_path / "classifier"
    output.mkdir()  # an empty folder may be written
    result, _ = export(worker, handle=loaded["handle"], output=str(output))

    manifest = json.loads(Path(result["manifest"]).read_text(encoding="utf-8"))
    assert manifest["task"] == "text-classification"
    assert manifest["labels"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert [o["name"] for o in manifest["outputs"]] == ["logits"]
    (logits,) = session(output).run(["logits"], feeds(output, manifest, TEXTS))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = run(worker, loaded["handle"], TEXTS, top_k=2)
    actual = [
        sorted(
            ({"label": manifest["labels"][str(i)], "score": float(s)} for i, s in enumerate(row)),
            key=lambda entry: -entry["score"],
        )
        for row in scores
    ]
    assert_close(expected, actual)


def test_an_int8_export_is_quantized_and_says_so(
    worker: WorkerClient, model_dir: Callable[[str], Path], tmp_path: Path
):
    output = tmp_path / "int8"
    result, _ = export(
        worker, model=str(model_dir("feature-extraction")), output=str(output), quantize="int8"
    )
    manifest = json.loads(Path(result["manifest"]).read_text(encoding="utf-8"))
    assert manifest["dtype"] == "int8" and manifest["quantize"] == "int8"
    assert result["onnx"]["check"]["cosine"] > 0.9
    (hidden,) = session(output).run(["last_hidden_state"], feeds(output, manifest, TEXTS))
    assert hidden.shape[:2] == feeds(output, manifest, TEXTS)["input_ids"].shape


@pytest.fixture(scope="module")
def confined(
    tmp_path_factory: pytest.TempPathFactory, hf_home: Path, onnx_cache: Path
) -> Iterator[tuple[WorkerClient, Path]]:
    """A worker whose client paths are confined to one folder (--input-root)."""
    root = tmp_path_factory.mktemp("root")
    log = tmp_path_factory.mktemp("confined-log")
    with running_worker(log, hf_home, "--cache-dir", str(onnx_cache), "--input-root", str(root)) as client:
        yield client, root


def _refused(worker: WorkerClient, **params: Any) -> WorkerCallError:
    with pytest.raises(WorkerCallError) as caught:
        worker.call("model/export", params, timeout=300)
    return caught.value


def test_outputs_it_must_not_write_are_refused_and_left_alone(
    worker: WorkerClient,
    model_dir: Callable[[str], Path],
    tmp_path: Path,
    confined: tuple[WorkerClient, Path],
):
    model = str(model_dir("feature-extraction"))
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("mine", encoding="utf-8")
    link = tmp_path / "link"
    os.symlink(tmp_path / "elsewhere-empty", link)
    (tmp_path / "elsewhere-empty").mkdir()

    assert _refused(worker, model=model, output="relative/folder").code == -32602
    assert _refused(worker, model=model, output=str(tmp_path / "missing" / "out")).code == -32602
    assert _refused(worker, model=model, output=str(full)).code == -32602
    assert _refused(worker, model=model, output=str(a_file)).code == -32602
    assert _refused(worker, model=model, output=str(link)).code == -32602
    assert _refused(worker, model=model, output="/proc/out").code == -32007
    # A name the folder itself could take but its partial sibling (".NAME.partial-*") could not: refused
    # before the export, not -32000 "File name too long" after it.
    too_long = _refused(worker, model=model, output=str(tmp_path / ("x" * 250)))
    assert too_long.code == -32602 and "name" in too_long.message
    assert _refused(worker, model=model, output="/sys/out").code == -32007
    assert _refused(worker, output=str(tmp_path / "out")).code == -32602  # neither model nor handle
    assert _refused(worker, model=model, handle="m-1", output=str(tmp_path / "out")).code == -32602
    assert _refused(worker, model=model, output=str(tmp_path / "out"), opset=7).code == -32602
    assert _refused(worker, model=model, output=str(tmp_path / "out"), format="tflite").code == -32602
    assert _refused(worker, handle="m-999", output=str(tmp_path / "out")).code == -32004
    # What does not export: refused with the list, and nothing written.
    generator = _refused(worker, model=str(model_dir("text-generation")), output=str(tmp_path / "out"))
    assert generator.code == -32009 and "sentence-embeddings" in generator.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "elsewhere-empty", "full", "link"]
    assert [p.name for p in full.iterdir()] == ["keep.txt"] and a_file.read_text(encoding="utf-8") == "mine"

    client, root = confined
    assert _refused(client, model=model, output=str(tmp_path / "outside")).code == -32007
    inside, _ = export(client, model=model, output=str(root / "inside"))
    assert Path(inside["manifest"]).is_file()


def test_an_output_with_a_nul_character_is_refused(
    worker: WorkerClient, model_dir: Callable[[str], Path], tmp_path: Path
):
    # Was -32000 "ValueError: embedded null byte" from os.path.realpath.
    model = str(model_dir("feature-extraction"))
    refused = _refused(worker, model=model, output=str(tmp_path / "out\x00put"))
    assert refused.code == -32602 and "NUL character" in refused.message, refused
    assert worker.call("worker/ping", {"still": "serving"}, timeout=10) == {"still": "serving"}
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_export_leaves_no_folder_and_no_cache_entry(
    worker: WorkerClient, model_dir: Callable[[str], Path], tmp_path: Path, onnx_cache: Path
):
    # A copy of its own, with new modification times: files the cache has not seen (the cache keys a model
    # by its files' names, sizes and times, not by its folder), so this export really exports.
    model = tmp_path / "model"
    shutil.copytree(model_dir("fill-mask"), model, copy_function=shutil.copyfile)
    output = tmp_path / "out"
    exporting = threading.Event()
    before = sorted(p.name for p in onnx_cache.iterdir())

    def on_progress(value: dict[str, Any]) -> None:
        if value["stage"] == "exporting":
            exporting.set()

    call = worker.send("model/export", {"model": str(model), "output": str(output)}, on_progress=on_progress)
    assert exporting.wait(300), "the export was not made (found in the cache?)"
    worker.cancel(call)
    with pytest.raises(WorkerCallError) as caught:
        worker.result(call, timeout=300)
    assert caught.value.code == -32800
    # The answer comes at once; the handler stops at its next stage and cleans up: wait for it to end.
    deadline = time.monotonic() + 120
    while worker.call("worker/info")["running_handlers"] > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not output.exists() and [p.name for p in tmp_path.iterdir()] == ["model"]
    assert sorted(p.name for p in onnx_cache.iterdir()) == before  # no entry, no partial folder
