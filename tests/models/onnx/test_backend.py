"""model/load with backend onnxruntime: every task it runs answers as torch float32 does, the export is
checked and cached where a second worker finds it, an incomplete cache entry is rebuilt, int8 reports its
check, and what the backend does not run is refused with a clear error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.models import media
from tests.models.conftest import running_worker
from tests.models.onnx.conftest import assert_close, cosine, load, run
from worker.client import WorkerCallError, WorkerClient

pytestmark = pytest.mark.models

TEXTS = ["the quick brown fox jumps over the lazy dog", "hello world"]
# Each task of the backend: (inputs, parameters) for one model/run.
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "feature-extraction": (TEXTS, {}),
    "sentence-embeddings": (TEXTS, {}),
    "text-classification": (TEXTS, {"top_k": 2}),
    "token-classification": (["john lives in paris and works in london"], {}),
    "fill-mask": (["paris is the [MASK] of france", "a [MASK] day"], {"top_k": 3}),
    "question-answering": (
        [{"question": "Where does John live?", "context": "John lives in Paris. Mary lives in Rome."}],
        {"top_k": 2},
    ),
    "zero-shot-classification": (["the cat sat on the mat"], {"candidate_labels": ["animals", "sports"]}),
    "image-classification": (None, {"top_k": 2}),  # inputs: a picture, made in the test
}


def _inputs(task: str) -> Any:
    inputs, _ = CASES[task]
    if inputs is None:
        return [{"bytes": media.encode_image(media.picture(), "PNG")}]
    return inputs


@pytest.mark.parametrize("task", sorted(CASES))
def test_each_task_answers_on_onnxruntime_as_on_torch(
    worker: WorkerClient, model_dir: Callable[[str], Path], task
):
    folder = model_dir(task)
    torch_model, _ = load(worker, folder, task=task, dtype="float32")
    onnx_model, stages = load(worker, folder, task=task, backend="onnxruntime")

    assert onnx_model["handle"] != torch_model["handle"]
    assert (onnx_model["backend"], torch_model["backend"]) == ("onnxruntime", "torch")
    assert torch_model["onnx"] is None
    assert onnx_model["dtype"] == "float32"
    # Batchable tasks stay batchable: the same dynamic batching as with torch.
    assert onnx_model["batching"] == torch_model["batching"]
    check = onnx_model["onnx"]["check"]
    assert check["max_abs_diff"] < 1e-3
    if task in ("feature-extraction", "sentence-embeddings"):
        assert check["cosine"] >= 0.999
    else:
        assert check["label_agreement"] == 1.0
    assert Path(onnx_model["onnx"]["path"]).is_file()
    if not onnx_model["onnx"]["cached"]:
        assert stages.index("exporting") < stages.index("checking") < stages.index("starting onnxruntime")

    _, parameters = CASES[task]
    inputs = _inputs(task)
    expected = run(worker, torch_model["handle"], inputs, **parameters)
    actual = run(worker, onnx_model["handle"], inputs, **parameters)
    assert_close(expected, actual)
    # One input on its own answers what it answers inside a list (the batcher's path and the single one).
    assert_close(expected[0], run(worker, onnx_model["handle"], inputs[0], **parameters))


def test_model_list_names_the_backend(worker: WorkerClient, model_dir: Callable[[str], Path]):
    loaded, _ = load(worker, model_dir("feature-extraction"), backend="onnxruntime")
    listed = {m["handle"]: m for m in worker.call("model/list")["models"]}
    assert listed[loaded["handle"]]["backend"] == "onnxruntime"
    assert listed[loaded["handle"]]["memory_bytes"] == loaded["memory_bytes"] > 0


def test_a_second_worker_loads_the_export_from_the_cache(
    worker: WorkerClient, model_dir: Callable[[str], Path], hf_home: Path, onnx_cache: Path, tmp_path: Path
):
    folder = model_dir("sentence-embeddings")
    first, _ = load(worker, folder, backend="onnxruntime")
    entries = sorted(p.name for p in onnx_cache.iterdir())
    expected = run(worker, first["handle"], TEXTS)

    with running_worker(tmp_path, hf_home, "--cache-dir", str(onnx_cache)) as second:
        again, stages = load(second, folder, backend="onnxruntime")
        assert again["onnx"]["cached"] is True
        assert again["onnx"]["path"] == first["onnx"]["path"]
        assert again["onnx"]["check"] == first["onnx"]["check"]  # the figures recorded at export
        assert "exporting" not in stages and "checking" not in stages
        assert sorted(p.name for p in onnx_cache.iterdir()) == entries  # nothing new was written
        assert_close(expected, run(second, again["handle"], TEXTS))


def test_an_incomplete_cache_entry_is_exported_again(
    model_dir: Callable[[str], Path], hf_home: Path, tmp_path: Path
):
    cache = tmp_path / "cache"
    folder = model_dir("text-classification")
    with running_worker(tmp_path, hf_home, "--cache-dir", str(cache)) as worker:
        first, _ = load(worker, folder, backend="onnxruntime")
        expected = run(worker, first["handle"], TEXTS)
    entry = Path(first["onnx"]["path"]).parent
    # A copy cut short: the graph is not the size its entry.json records.
    graph = entry / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    # And a partial folder as a killed export leaves it: never taken for an entry.
    (cache / f".partial-{entry.name}-1-deadbeef").mkdir()

    with running_worker(tmp_path, hf_home, "--cache-dir", str(cache)) as worker:
        again, stages = load(worker, folder, backend="onnxruntime")
        assert again["onnx"]["cached"] is False and "exporting" in stages
        assert again["onnx"]["path"] == str(graph)
        assert_close(expected, run(worker, again["handle"], TEXTS))
    meta = json.loads((entry / "entry.json").read_text(encoding="utf-8"))
    assert meta["model_bytes"] == graph.stat().st_size


def test_a_damaged_cached_graph_of_the_right_size_is_exported_again(
    model_dir: Callable[[str], Path], hf_home: Path, tmp_path: Path
):
    cache = tmp_path / "cache"
    folder = model_dir("text-classification")
    with running_worker(tmp_path, hf_home, "--cache-dir", str(cache)) as worker:
        first, _ = load(worker, folder, backend="onnxruntime")
        expected = run(worker, first["handle"], TEXTS)
    # Damaged on disk with its size intact: entry.json cannot tell, onnxruntime can (it answered every
    # later load of this model -32000 InvalidProtobuf until someone removed the entry by hand).
    graph = Path(first["onnx"]["path"])
    graph.write_bytes(b"\xff" * graph.stat().st_size)

    with running_worker(tmp_path, hf_home, "--cache-dir", str(cache)) as worker:
        again, stages = load(worker, folder, backend="onnxruntime")
        assert again["onnx"]["cached"] is False and "exporting" in stages
        assert again["onnx"]["path"] == str(graph)
        assert_close(expected, run(worker, again["handle"], TEXTS))
    assert [p.name for p in cache.iterdir()] == [graph.parent.name]  # nothing left aside


def test_int8_quantization_loads_and_reports_its_check(
    worker: WorkerClient, model_dir: Callable[[str], Path]
):
    folder = model_dir("sentence-embeddings")
    exact, _ = load(worker, folder, backend="onnxruntime")
    quantized, stages = load(worker, folder, backend="onnxruntime", quantize="int8")

    assert quantized["handle"] != exact["handle"]
    assert quantized["dtype"] == "int8" and quantized["precision"]["chosen"] == "int8"
    assert quantized["onnx"]["quantize"] == "int8"
    assert quantized["onnx"]["path"] != exact["onnx"]["path"]
    if not quantized["onnx"]["cached"]:
        assert "quantizing" in stages
    check = quantized["onnx"]["check"]
    assert 0.9 < check["cosine"] <= 1.0 and check["max_abs_diff"] > 0.0
    vectors = run(worker, quantized["handle"], TEXTS)
    reference = run(worker, exact["handle"], TEXTS)
    assert all(cosine(a, b) > 0.99 for a, b in zip(vectors, reference, strict=True))


def _refused(worker: WorkerClient, params: dict[str, Any]) -> WorkerCallError:
    with pytest.raises(WorkerCallError) as caught:
        worker.call("model/load", params, timeout=120)
    return caught.value


def test_what_the_backend_does_not_run_is_refused(worker: WorkerClient, model_dir: Callable[[str], Path]):
    generator = str(model_dir("text-generation"))
    error = _refused(worker, {"model": generator, "backend": "onnxruntime"})
    assert error.code == -32009
    for task in CASES:
        assert task in error.message

    encoder = str(model_dir("feature-extraction"))
    assert _refused(worker, {"model": encoder, "quantize": "int8"}).code == -32602
    assert _refused(worker, {"model": encoder, "backend": "onnxruntime", "dtype": "bfloat16"}).code == -32602
    assert _refused(worker, {"model": encoder, "backend": "tensorrt"}).code == -32602
    assert _refused(worker, {"model": encoder, "backend": "onnxruntime", "quantize": "int4"}).code == -32602
    # The worker keeps serving.
    assert worker.call("worker/ping", {"alive": True}, timeout=30) == {"alive": True}
