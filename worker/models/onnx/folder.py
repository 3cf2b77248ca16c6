"""model/export: a model's ONNX graph written into a folder that an app runs without Python.

The folder holds ``model.onnx`` (the cache entry's graph: an export made for model/load is reused, and
an export made here is cached for later loads), the tokenizer as the tokenizer saves itself
(``tokenizer.json`` for a fast tokenizer) or the image processor's ``preprocessor_config.json``,
``config.json``, and ``hf-worker-export.json`` (``Manifest``): what the graph takes and returns, the
task, pooling and normalisation, labels, dtype, opset and the check's figures.

Where it may be written (the client names the folder, so the worker's permissions write it):
``output`` must be absolute; its parent must exist; it must not exist or be an empty folder (never a
symlink, never anything with files in it: an export never overwrites); nothing under /proc, /sys or
/dev; and with ``--input-root`` the folder must lie inside one of the roots, as every path a client
names must. The files are written into a new sibling folder, renamed to ``output`` when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from worker import __version__
from worker.errors import Forbidden, InvalidParams
from worker.models.inputs.files import PSEUDO_ROOTS, FilePolicy
from worker.models.onnx import backend, cache
from worker.models.onnx.check import Check
from worker.models.onnx.graph import TensorSpec

MANIFEST_FILE = "hf-worker-export.json"
_SYSTEM_ROOTS = (*PSEUDO_ROOTS, "/dev")
_CLASSIFIERS = (
    "text-classification",
    "token-classification",
    "zero-shot-classification",
    "image-classification",
)


class Manifest(msgspec.Struct, kw_only=True):
    """hf-worker-export.json."""

    format: str = "hf-worker-export"
    version: int = 1
    hf_worker: str = __version__
    model: str
    task: str
    model_file: str = cache.MODEL_FILE
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    # What the graph computes in: "float32", or "int8" (weights; inputs and outputs stay float32/int64).
    dtype: str
    opset: int
    quantize: str | None
    exporter: str
    check: Check
    # The preprocessing files in the folder (null where the task has none of that kind).
    tokenizer: str | None = None
    # A WordPiece tokenizer's vocabulary, one token a line in id order (what BERT tokenizers outside
    # Python, such as Microsoft.ML.Tokenizers' BertTokenizer, read); null for other tokenizers.
    vocab: str | None = None
    image_processor: str | None = None
    # Texts longer than this many tokens are cut (truncation), as the worker cuts them.
    max_length: int | None = None
    lower_case: bool = False
    # sentence-embeddings: the pooling in the sentence_embedding output, and whether to L2-normalise it.
    pooling: list[str] | None = None
    normalize: bool | None = None
    # Classifiers: the label of each output index, and how logits become scores.
    labels: dict[str, str] | None = None
    problem_type: str | None = None


class ExportResult(msgspec.Struct):
    output: str
    manifest: str
    files: list[str]
    task: str
    model: str
    cached: bool  # the graph came from the cache (nothing exported by this call)
    onnx: backend.OnnxInfo


def check_output(text: str, config: Any) -> Path:
    """The folder to write, or the reason it may not be written (see the module docstring)."""
    if not os.path.isabs(text):
        raise InvalidParams(f"output must be an absolute path, got {text!r}")
    if "\x00" in text:
        # No file name can hold one: os calls would raise ValueError (-32000) deep in the checks below.
        raise InvalidParams(f"output must not contain a NUL character, got {text!r}")
    named = Path(text)
    if named.name in ("", ".", ".."):
        raise InvalidParams(f"output must name a folder, got {text!r}")
    parent = os.path.realpath(named.parent)
    if not os.path.isdir(parent):
        raise InvalidParams(f"output's parent folder {str(named.parent)!r} does not exist")
    target = Path(parent) / named.name
    if any(str(target) == root or str(target).startswith(root + os.sep) for root in _SYSTEM_ROOTS):
        raise Forbidden(f"output {text!r} is in a system folder ({', '.join(_SYSTEM_ROOTS)})")
    if not FilePolicy.from_config(config).allows(str(target)):
        raise Forbidden(f"output {text!r} is outside every --input-root")
    # Checked now, not when the files are written: the export before that can take minutes.
    name_max = _name_max(parent)
    if len(os.fsencode(_partial_name(target.name, "0" * 8))) > name_max:
        raise InvalidParams(
            f"output's name is too long: {len(named.name)} characters, and the worker writes into a "
            f"sibling folder named .NAME.partial-XXXXXXXX first (at most {name_max} bytes a name here)"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidParams(f"output's parent folder {str(named.parent)!r} is not writable by the worker")
    if os.path.lexists(target):
        if target.is_symlink() or not target.is_dir():
            raise InvalidParams(f"output {text!r} exists and is not a folder")
        if any(target.iterdir()):
            raise InvalidParams(f"output folder {text!r} is not empty: an export never overwrites files")
    return target


def _partial_name(name: str, tag: str) -> str:
    return f".{name}.partial-{tag}"


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def write(
    target: Path,
    entry: cache.Entry,
    cached: bool,
    prepared: Any,
    report: Callable[[str], None],
) -> ExportResult:
    """Fill a new folder next to ``target`` and rename it to ``target``."""
    report("writing")
    partial = target.with_name(_partial_name(target.name, uuid.uuid4().hex[:8]))
    try:
        partial.mkdir()
    except OSError as exc:  # the parent changed since check_output (removed, made read-only)
        raise InvalidParams(f"output {str(target)!r} cannot be written: {exc.strerror}") from None
    try:
        for path in entry.folder.iterdir():
            if path.is_file() and path.name != cache.ENTRY_FILE:
                shutil.copyfile(path, partial / path.name)
        manifest = _manifest(partial, entry, prepared)
        (partial / MANIFEST_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(manifest)))
        files = sorted(p.name for p in partial.iterdir())
        # Onto a folder that is still empty (rename replaces an empty folder); refused if files came.
        try:
            partial.rename(target)
        except OSError as exc:
            raise InvalidParams(f"output {str(target)!r} was filled while the export ran: {exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return ExportResult(
        output=str(target),
        manifest=str(target / MANIFEST_FILE),
        files=files,
        task=entry.meta.task,
        model=prepared.source.name,
        cached=cached,
        onnx=backend.OnnxInfo(
            path=str(target / cache.MODEL_FILE),
            cached=cached,
            opset=entry.meta.opset,
            quantize=entry.meta.quantize,
            exporter=entry.meta.exporter,
            check=entry.meta.check,
        ),
    )


def _manifest(folder: Path, entry: cache.Entry, prepared: Any) -> Manifest:
    """Save the preprocessing next to the graph and describe both."""
    from worker.models.tasks.embeddings import read_sentence_config

    config = prepared.config
    config.save_pretrained(str(folder))
    meta = entry.meta
    manifest = Manifest(
        model=prepared.source.name,
        task=meta.task,
        inputs=meta.signature.inputs,
        outputs=meta.signature.outputs,
        dtype="int8" if meta.quantize == "int8" else "float32",
        opset=meta.opset,
        quantize=meta.quantize,
        exporter=meta.exporter,
        check=meta.check,
    )
    source = prepared.source.path
    if meta.task == "image-classification":
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(
            str(source), trust_remote_code=prepared.trust_remote_code
        )
        processor.save_pretrained(str(folder))
        manifest.image_processor = "preprocessor_config.json"
    else:
        from transformers import AutoTokenizer

        sentence = read_sentence_config(source) if meta.task == "sentence-embeddings" else None
        transformer = sentence.transformer_path if sentence is not None else source
        tokenizer = AutoTokenizer.from_pretrained(
            str(transformer), trust_remote_code=prepared.trust_remote_code
        )
        tokenizer.save_pretrained(str(folder))
        manifest.tokenizer = "tokenizer.json" if (folder / "tokenizer.json").is_file() else None
        manifest.vocab = _wordpiece_vocab(folder)
        manifest.max_length = _max_length(tokenizer, config, sentence)
        if sentence is not None:
            manifest.pooling = list(sentence.pooling)
            manifest.normalize = sentence.normalize
            manifest.lower_case = sentence.do_lower_case
    if meta.task in _CLASSIFIERS:
        manifest.labels = {str(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
        manifest.problem_type = getattr(config, "problem_type", None)
    return manifest


def _wordpiece_vocab(folder: Path) -> str | None:
    """vocab.txt beside a WordPiece tokenizer.json (a fast tokenizer saves only the latter)."""
    target = folder / "vocab.txt"
    if not target.is_file() and (folder / "tokenizer.json").is_file():
        model = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")).get("model") or {}
        if model.get("type") != "WordPiece":
            return None
        vocab: dict[str, int] = model["vocab"]
        target.write_text("".join(f"{token}\n" for token in sorted(vocab, key=vocab.__getitem__)), "utf-8")
    return target.name if target.is_file() else None


def _max_length(tokenizer: Any, config: Any, sentence: Any) -> int | None:
    limits = [
        getattr(sentence, "max_seq_length", None),
        getattr(tokenizer, "model_max_length", None),
        getattr(config, "max_position_embeddings", None),
    ]
    valid = [n for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
    return min(valid) if valid else None
