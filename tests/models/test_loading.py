"""Loading through the real worker: handles are reference counted (one copy per model and settings),
loading reports progress, model/list describes what is loaded, hub ids resolve from the HuggingFace
cache under HF_HOME, dtype is honoured, and start-up never imports torch."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.models.conftest import running_worker
from worker.client import WorkerCallError

pytestmark = pytest.mark.models


def test_the_ready_handshake_comes_before_torch_is_imported(tmp_path, hf_home):
    with running_worker(tmp_path, hf_home) as fresh:
        assert {"model/load", "model/run", "model/unload", "model/list"} <= set(fresh.ready["methods"])
        assert fresh.call("worker/info")["torch_loaded"] is False
        assert fresh.call("model/list") == {"models": [], "memory_bytes": 0, "torch_threads": None}
        assert fresh.call("worker/info")["torch_loaded"] is False


def test_threads_sets_torchs_intra_op_threads(tmp_path, hf_home, model_dir):
    with running_worker(tmp_path, hf_home, "--threads", "1") as single:
        single.call("model/load", {"model": str(model_dir("text-classification"))}, timeout=120)
        assert single.call("model/list")["torch_threads"] == 1


def test_loading_the_same_model_twice_shares_one_copy(worker, model_dir):
    folder = str(model_dir("token-classification"))
    first = worker.call("model/load", {"model": folder})
    second = worker.call("model/load", {"model": folder, "task": "ner"})  # an alias: the same task
    assert second["handle"] == first["handle"] and second["reused"] and not first["reused"]
    assert second["references"] == first["references"] + 1
    assert first["parameters"] > 0 and first["memory_bytes"] >= 4 * first["parameters"]
    assert first["device"] == "cpu" and first["dtype"] == "float32" and first["source"] == "folder"

    other = worker.call("model/load", {"model": folder, "dtype": "bfloat16"})  # other settings: another copy
    assert other["handle"] != first["handle"] and other["dtype"] == "bfloat16"
    assert other["memory_bytes"] == pytest.approx(first["memory_bytes"] / 2, rel=0.01)
    entities = worker.call("model/run", {"handle": other["handle"], "inputs": "John lives in Paris"})
    assert len(entities) > 0

    assert worker.call("model/unload", {"handle": first["handle"]}) == {
        "handle": first["handle"],
        "references": 1,
        "unloaded": False,
    }
    assert worker.call("model/unload", {"handle": first["handle"]})["unloaded"] is True
    assert worker.call("model/unload", {"handle": other["handle"]})["unloaded"] is True
    assert {m["handle"] for m in worker.call("model/list")["models"]}.isdisjoint(
        {first["handle"], other["handle"]}
    )


def test_concurrent_loads_of_one_model_load_it_once(worker, model_dir):
    folder = str(model_dir("question-answering"))
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(worker.call("model/load", {"model": folder})))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len({r["handle"] for r in results}) == 1
    assert sorted(r["reused"] for r in results) == [False, True, True]
    listed = [m for m in worker.call("model/list")["models"] if m["handle"] == results[0]["handle"]]
    assert len(listed) == 1 and listed[0]["references"] == 3


def test_loading_reports_its_stages_as_progress(worker, model_dir):
    stages: list[dict[str, Any]] = []
    folder = str(model_dir("seq2seq"))
    worker.call(
        "model/load", {"model": folder, "task": "summarization"}, on_progress=stages.append, timeout=60
    )
    names = [s["stage"] for s in stages]
    assert names[0] == "resolving" and names[-1] == "ready"
    assert "checking memory" in names and "loading weights" in names
    assert all(s["model"] == folder for s in stages)


def test_model_list_describes_each_loaded_model(worker, model_dir):
    loaded = worker.call(
        "model/load",
        {
            "model": str(model_dir("sentence-embeddings")),
            "batching": {"max_batch_size": 4, "max_delay_ms": 1},
        },
    )
    listed = {m["handle"]: m for m in worker.call("model/list")["models"]}
    entry = listed[loaded["handle"]]
    assert entry["task"] == "sentence-embeddings" and entry["model"] == str(model_dir("sentence-embeddings"))
    assert entry["batching"] == {"max_batch_size": 4, "max_delay_ms": 1.0}
    assert entry["memory_bytes"] == loaded["memory_bytes"] and entry["parameters"] == loaded["parameters"]
    total = worker.call("model/list")["memory_bytes"]
    assert total == sum(m["memory_bytes"] for m in listed.values())


def test_a_hub_id_resolves_from_the_huggingface_cache_under_hf_home(worker, model_dir, hf_home):
    # The layout huggingface_hub writes: models--<org>--<name>/{refs/main, snapshots/<commit>/...}.
    repo = hf_home / "hub" / "models--tiny-org--tiny-classifier"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir("text-classification"), snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    loaded = worker.call("model/load", {"model": "tiny-org/tiny-classifier"})
    assert loaded["source"] == "cache" and Path(loaded["path"]) == snapshot
    assert set(worker.call("model/run", {"handle": loaded["handle"], "inputs": "hi"})) == {"label", "score"}


def test_the_default_model_id_resolves_offline_to_the_bundled_copy(worker):
    loaded = worker.call("model/load", {"model": "sentence-transformers/all-MiniLM-L6-v2"}, timeout=120)
    assert loaded["source"] == "bundled" and loaded["task"] == "sentence-embeddings"
    assert loaded["parameters"] == 22_713_216


def test_a_cancelled_load_leaves_no_model_behind(worker):
    first_stage = threading.Event()
    before = {m["handle"] for m in worker.call("model/list")["models"]}
    call = worker.send(
        "model/load",
        {"model": "sentence-transformers/all-MiniLM-L6-v2", "dtype": "bfloat16"},
        on_progress=lambda value: first_stage.set(),
    )
    assert first_stage.wait(60)
    worker.cancel(call)
    with pytest.raises(WorkerCallError) as caught:
        worker.result(call, timeout=60)
    assert caught.value.code == -32800
    deadline = time.monotonic() + 30
    while worker.call("worker/info")["running_handlers"] > 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert {m["handle"] for m in worker.call("model/list")["models"]} == before
