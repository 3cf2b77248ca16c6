"""all-MiniLM-L6-v2 exported to ONNX at bench time and run with ONNX Runtime on the CPU: the "no torch
at inference time" contender. Same tokenizer, same pooling as inprocess.py (mean over the attention mask,
then L2 normalise), done in numpy. Imports nothing from ``worker``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.baselines.inprocess import MAX_SEQ_LENGTH, bundled_model_path

INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def export(folder: Path, target: Path) -> Path:
    """Write ``folder``'s transformer (without the pooling) to ``target``/model.onnx, with the batch and
    sequence axes dynamic. The legacy TorchScript-based exporter: it needs only the ``onnx`` package."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    class HiddenStates(torch.nn.Module):
        # A fixed three-input signature: the legacy exporter fills every defaulted argument of
        # BertModel.forward positionally, which collides with transformers' keyword-injecting wrappers.
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(folder).eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = HiddenStates().eval()
    sample = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
    path = target / "model.onnx"
    dynamic = {0: "batch", 1: "sequence"}
    with torch.inference_mode(), warnings.catch_warnings():
        # The tracer's notes on shape checks it freezes (they hold here: the mask always matches the
        # sequence) and on opset-17 indexing; embed() results are checked against torch by the caller.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx\.")
        torch.onnx.export(
            model,
            tuple(sample[name] for name in INPUT_NAMES),
            str(path),
            input_names=INPUT_NAMES,
            output_names=["last_hidden_state"],
            dynamic_axes={**{name: dynamic for name in INPUT_NAMES}, "last_hidden_state": dynamic},
            opset_version=17,
            dynamo=False,
        )
    return path


class OnnxEmbedder:
    """Exports into a temporary folder on construction; ``close()`` removes it."""

    def __init__(self, threads: int, path: Path | None = None) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        folder = path or bundled_model_path()
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-onnx-")
        model_file = export(folder, Path(self._tmp.name))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: the contenders take turns on 2 cores, and a
        # spinning pool would take CPU from whichever runs next (in this process or another).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.session = onnxruntime.InferenceSession(
            str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def embed(self, sentences: list[str]) -> Any:
        """A float32 array [len(sentences), 384] of unit vectors."""
        encoded = self.tokenizer(
            sentences, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="np"
        )
        feeds = {name: encoded[name].astype(np.int64) for name in INPUT_NAMES}
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        mask = feeds["attention_mask"][:, :, None].astype(hidden.dtype)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def close(self) -> None:
        self._tmp.cleanup()


class OnnxGraph:
    """ONNX Runtime in-process on a given graph file, such as the one the worker's ``backend:
    "onnxruntime"`` load exported (its ``onnx.path``): the same file, so a comparison measures the
    serving, not the export. ``embed`` mean-pools ``last_hidden_state`` as above; ``logits`` returns a
    classifier's scores. Idle pool threads sleep, as the worker's sessions' do."""

    def __init__(self, model_file: Path, tokenizer_folder: Path, threads: int) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)

    def _run(self, sentences: list[str], output: str) -> tuple[Any, Any]:
        encoded = self.tokenizer(
            sentences, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="np"
        )
        feeds = {
            name: encoded[name].astype(np.int64)
            if name in encoded
            else np.zeros_like(encoded["input_ids"], dtype=np.int64)
            for name in self.inputs
        }
        (result,) = self.session.run([output], feeds)
        return result, feeds["attention_mask"]

    def embed(self, sentences: list[str]) -> Any:
        hidden, attention = self._run(sentences, "last_hidden_state")
        mask = attention[:, :, None].astype(hidden.dtype)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def logits(self, sentences: list[str]) -> Any:
        return self._run(sentences, "logits")[0]
