"""Exported graphs kept between workers, under ``--cache-dir`` (default ``$HF_HOME/hf-worker/onnx``).

An entry is a folder named by the hash of everything that decides the graph: the model's files (each
one's path, size and modification time: hashing gigabytes of weights would cost more than some
exports), the task, the load options, the exporter and torch and transformers versions, the opset and
the quantization. It holds ``model.onnx`` (and any external data files) and ``entry.json``.

An entry is built in a folder of its own (``.partial-*``) and renamed into place only when complete
and checked, so a killed export never looks ready, and two workers exporting the same model at once
each build their own and the second rename loses harmlessly (the loser uses the winner's entry). An
entry is ready only when ``entry.json`` parses and its graph has the size it records; anything else
under an entry's name is moved aside and rebuilt, as is an entry whose graph onnxruntime cannot load
(``discard``: damaged on disk with its size intact). Partial folders left by killed exports are removed
once they are an hour old.

The worker loads whatever graph an entry holds, so the cache folder is private: created 0700, and a folder
that another user owns or that group or others may write is refused (-32007) rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from worker.errors import Forbidden
from worker.models.onnx.check import Check
from worker.models.onnx.graph import Signature

log = logging.getLogger("worker.models")

# Bumped when what an entry holds or how a graph is made changes: older entries are then not found.
ENTRY_FORMAT = 1
MODEL_FILE = "model.onnx"
ENTRY_FILE = "entry.json"
_PARTIAL = ".partial-"
_STALE_PARTIAL_SECONDS = 3600.0


class EntryMeta(msgspec.Struct, kw_only=True):
    """entry.json: what the graph is, how it was made, and how it compared with torch."""

    format: int = ENTRY_FORMAT
    key: dict[str, Any]
    task: str
    opset: int
    quantize: str | None
    exporter: str
    signature: Signature
    check: Check
    parameters: int
    model_bytes: int
    created: float


class Entry(msgspec.Struct, frozen=True):
    folder: Path
    meta: EntryMeta

    @property
    def model(self) -> Path:
        return self.folder / MODEL_FILE


def files_digest(folder: Path) -> str:
    """The model folder's files as (relative path, size, modification time), hashed."""
    listing = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue  # .cache/ (hub download metadata), .git/ and the like say nothing about the model
        stat = path.stat()
        listing.append([relative.as_posix(), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()


def normalized(key: dict[str, Any]) -> dict[str, Any]:
    """``key`` as entry.json gives it back (JSON types only), so that the two compare equal."""
    return json.loads(json.dumps(key, sort_keys=True, default=str))  # type: ignore[no-any-return]


def entry_name(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:40]


def lookup(root: Path, key: dict[str, Any]) -> Entry | None:
    """The ready entry for ``key``, or None (nothing there, or something incomplete)."""
    if not root.exists():
        return None
    _check_private(root)
    return _read(root / entry_name(key), key)


def publish(root: Path, key: dict[str, Any], build: Callable[[Path], EntryMeta]) -> tuple[Entry, bool]:
    """The entry for ``key``: ``build`` fills a fresh partial folder (writing ``model.onnx`` there and
    returning its meta), which is then renamed into place. (entry, whether this call built it); a
    failing ``build`` leaves nothing behind."""
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    _check_private(root)
    _remove_stale_partials(root)
    final = root / entry_name(key)
    partial = root / f"{_PARTIAL}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        meta = build(partial)
        # entry.json last: a folder without it is incomplete whatever else it holds.
        (partial / ENTRY_FILE).write_bytes(msgspec.json.encode(meta))
        built = _move_into_place(partial, final, key)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    entry = _read(final, key)
    if entry is None:  # cannot happen unless someone removes it under us: say so plainly
        raise OSError(f"the ONNX cache entry {final} vanished after it was written")
    return entry, built


def discard(entry: Entry) -> None:
    """Remove an entry found unusable (moved aside first, so that no other worker reads it half gone)."""
    aside = entry.folder.with_name(f"{_PARTIAL}{entry.folder.name}-broken-{uuid.uuid4().hex[:8]}")
    try:
        entry.folder.rename(aside)
    except OSError:
        return  # another worker moved or replaced it first
    shutil.rmtree(aside, ignore_errors=True)


def _move_into_place(partial: Path, final: Path, key: dict[str, Any]) -> bool:
    """True when ``partial`` became the entry, False when another worker's already was."""
    for _attempt in range(2):
        try:
            partial.rename(final)
            return True
        except OSError:
            if not final.exists():
                raise
        if _read(final, key) is not None:  # another worker finished the same export first
            shutil.rmtree(partial, ignore_errors=True)
            return False
        # Something incomplete holds the name (copied in part, or written by an older worker).
        aside = final.with_name(f"{_PARTIAL}{final.name}-broken-{uuid.uuid4().hex[:8]}")
        try:
            final.rename(aside)
        except OSError:
            continue  # someone else moved it first
        shutil.rmtree(aside, ignore_errors=True)
        log.warning("replaced an incomplete ONNX cache entry at %s", final)
    raise OSError(f"could not put the ONNX cache entry in place at {final}")


def _check_private(root: Path) -> None:
    """Forbidden unless ``root`` is a folder of this user's that no one else may write: a graph another
    user planted there would be loaded and answer for the model."""
    if not root.is_dir():
        raise Forbidden(f"the ONNX cache folder {root} is not a folder")
    if not hasattr(os, "getuid"):
        return  # Windows: the folder's ACL decides, as it does for the user's profile it lies in
    stat = root.stat()
    if stat.st_uid != os.getuid() or stat.st_mode & 0o022:
        raise Forbidden(
            f"the ONNX cache folder {root} is not private (owner uid {stat.st_uid}, mode "
            f"{stat.st_mode & 0o777:o}): another user could plant a graph there; use a folder of your own "
            "that only you may write (--cache-dir)"
        )


def _read(folder: Path, key: dict[str, Any]) -> Entry | None:
    try:
        meta = msgspec.json.decode((folder / ENTRY_FILE).read_bytes(), type=EntryMeta)
        size = (folder / MODEL_FILE).stat().st_size
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    if meta.format != ENTRY_FORMAT or meta.key != key or size != meta.model_bytes:
        return None
    return Entry(folder, meta)


def _remove_stale_partials(root: Path) -> None:
    now = time.time()
    for path in root.glob(f"{_PARTIAL}*"):
        try:
            if now - path.stat().st_mtime > _STALE_PARTIAL_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
