"""The export cache on its own (no model, no worker): entries appear whole or not at all, a race for one
entry leaves the first one in place, and what a failed or killed export leaves is never taken for an entry."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.errors import Forbidden
from worker.models.onnx import cache
from worker.models.onnx.check import Check
from worker.models.onnx.graph import Signature, TensorSpec

KEY = cache.normalized({"files": "abc", "task": "feature-extraction", "opset": 17, "quantize": None})


def builder(content: bytes) -> Callable[[Path], cache.EntryMeta]:
    def build(folder: Path) -> cache.EntryMeta:
        (folder / cache.MODEL_FILE).write_bytes(content)
        return cache.EntryMeta(
            key=KEY,
            task="feature-extraction",
            opset=17,
            quantize=None,
            exporter="test",
            signature=Signature(inputs=[TensorSpec("input_ids", "int64", ["batch", "sequence"])], outputs=[]),
            check=Check(max_abs_diff=0.0, cosine=1.0),
            parameters=1,
            model_bytes=len(content),
            created=time.time(),
        )

    return build


def test_an_entry_is_found_only_once_it_is_complete(tmp_path: Path):
    assert cache.lookup(tmp_path, KEY) is None
    entry, built = cache.publish(tmp_path, KEY, builder(b"graph"))
    assert built and entry.model.read_bytes() == b"graph"
    assert cache.lookup(tmp_path, KEY) == entry
    assert cache.lookup(tmp_path, {**KEY, "opset": 18}) is None  # another key, another entry
    assert [p.name for p in tmp_path.iterdir()] == [entry.folder.name]  # no partial folder left


def test_of_two_exports_at_once_the_first_to_finish_is_kept(tmp_path: Path):
    first = builder(b"first")

    def second(folder: Path) -> cache.EntryMeta:
        # Another worker publishes the same entry while this one is still building.
        cache.publish(tmp_path, KEY, first)
        return builder(b"second")(folder)

    entry, built = cache.publish(tmp_path, KEY, second)
    assert not built and entry.model.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == [entry.folder.name]


def test_a_failed_export_leaves_nothing_and_an_incomplete_entry_is_replaced(tmp_path: Path):
    def failing(folder: Path) -> cache.EntryMeta:
        (folder / cache.MODEL_FILE).write_bytes(b"half")
        raise RuntimeError("the exporter failed")

    with pytest.raises(RuntimeError):
        cache.publish(tmp_path, KEY, failing)
    assert list(tmp_path.iterdir()) == []

    # A folder under the entry's name without entry.json (copied in part): not an entry, and replaced.
    final = tmp_path / cache.entry_name(KEY)
    final.mkdir()
    (final / cache.MODEL_FILE).write_bytes(b"half")
    assert cache.lookup(tmp_path, KEY) is None
    entry, built = cache.publish(tmp_path, KEY, builder(b"whole"))
    assert built and entry.folder == final and entry.model.read_bytes() == b"whole"


def test_partial_folders_of_killed_exports_are_removed_once_stale(tmp_path: Path):
    stale = tmp_path / ".partial-old-1-abcdef01"
    fresh = tmp_path / ".partial-new-2-abcdef02"
    stale.mkdir()
    fresh.mkdir()
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    entry, _ = cache.publish(tmp_path, KEY, builder(b"graph"))
    # A fresh one may be another worker's export in progress: left alone.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([entry.folder.name, fresh.name])


def test_cache_dir_is_an_option_made_absolute_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from worker.cli import parse_config

    monkeypatch.chdir(tmp_path)
    assert parse_config(["--cache-dir", "exports"]).cache_dir == str(tmp_path / "exports")
    assert parse_config([]).cache_dir is None  # $HF_HOME/hf-worker/onnx, resolved at the first load


def test_the_cache_folder_is_made_private_and_one_others_may_write_is_refused(tmp_path: Path):
    root = tmp_path / "onnx"
    cache.publish(root, KEY, builder(b"graph"))
    assert root.stat().st_mode & 0o777 == 0o700
    assert cache.lookup(root, KEY) is not None

    root.chmod(0o777)  # a shared folder: anyone could have put a graph there
    with pytest.raises(Forbidden, match="not private"):
        cache.lookup(root, KEY)
    with pytest.raises(Forbidden, match="not private"):
        cache.publish(root, KEY, builder(b"graph"))
