"""Embedding tasks: ``feature-extraction`` (one vector per token) and ``sentence-embeddings`` (one
vector per text, pooled and normalised as the folder's sentence-transformers config says).

Both run their own batched forward pass (tokenise with padding, one model call, then per-text
results without the padding), so the dynamic batcher can coalesce concurrent requests. Sentence
embeddings follow sentence-transformers' module list (modules.json): Transformer, then Pooling
(cls / max / mean / mean_sqrt_len / weightedmean / lasttoken, concatenated in that order), then
optional Dense and Normalize. A folder without modules.json is pooled by mean and not normalised,
as sentence-transformers does for a plain transformers model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.errors import UnsupportedTask
from worker.models import runtime
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.tasks.base import PROBE_TEXTS, LoadContext, Task, TaskParameters
from worker.runtime.context import RequestContext

_POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken")
_ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.GELU": "gelu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}


@dataclass
class SentenceConfig:
    """How sentence-transformers turns token vectors into one vector per text."""

    transformer_path: Path
    max_seq_length: int | None = None
    do_lower_case: bool = False
    pooling: list[str] = field(default_factory=lambda: ["mean"])
    dense: list[tuple[Path, str]] = field(default_factory=list)  # (folder, activation name)
    normalize: bool = False


def read_sentence_config(folder: Path) -> SentenceConfig:
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return SentenceConfig(transformer_path=folder)
    modules = sorted(json.loads(modules_file.read_text(encoding="utf-8")), key=lambda m: m.get("idx", 0))
    config = SentenceConfig(transformer_path=folder)
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        path = folder / module.get("path", "")
        if kind == "Transformer":
            config.transformer_path = path
            _read_transformer_settings(path, config)
        elif kind == "Pooling":
            config.pooling = _read_pooling(path / "config.json")
        elif kind == "Dense":
            dense = json.loads((path / "config.json").read_text(encoding="utf-8"))
            activation = _ACTIVATIONS.get(dense.get("activation_function", ""), None)
            if activation is None:
                raise UnsupportedTask(
                    f"Dense activation {dense.get('activation_function')!r} is not supported"
                )
            config.dense.append((path, activation))
        elif kind == "Normalize":
            config.normalize = True
        else:
            raise UnsupportedTask(f"sentence-transformers module {module.get('type')!r} is not supported")
    return config


def _read_transformer_settings(path: Path, config: SentenceConfig) -> None:
    for name in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
        settings_file = path / name
        if settings_file.is_file():
            settings = json.loads(settings_file.read_text(encoding="utf-8"))
            config.max_seq_length = settings.get("max_seq_length")
            config.do_lower_case = bool(settings.get("do_lower_case", False))
            return


def _read_pooling(config_file: Path) -> list[str]:
    settings = json.loads(config_file.read_text(encoding="utf-8"))
    if settings.get("pooling_mode"):  # newer configs name a single mode
        mode = str(settings["pooling_mode"]).removesuffix("_tokens").removeprefix("pooling_mode_")
        return [{"mean_sqrt_len": "mean_sqrt_len"}.get(mode, mode)]
    flags = {
        "cls": "pooling_mode_cls_token",
        "max": "pooling_mode_max_tokens",
        "mean": "pooling_mode_mean_tokens",
        "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
        "weightedmean": "pooling_mode_weightedmean_tokens",
        "lasttoken": "pooling_mode_lasttoken",
    }
    modes = [mode for mode in _POOLING_MODES if settings.get(flags[mode])]
    return modes or ["mean"]


def pool(token_vectors: Any, mask: Any, modes: list[str]) -> Any:
    """Pool [batch, seq, dim] token vectors into [batch, dim * len(modes)] (padding excluded)."""
    torch = runtime.torch()
    weights = mask.unsqueeze(-1).to(token_vectors.dtype)
    lengths = weights.sum(dim=1).clamp(min=1e-9)
    pooled = []
    for mode in modes:
        if mode == "cls":
            pooled.append(token_vectors[:, 0])
        elif mode == "max":
            hidden = token_vectors.masked_fill(weights == 0, torch.finfo(token_vectors.dtype).min)
            pooled.append(hidden.max(dim=1).values)
        elif mode == "mean":
            pooled.append((token_vectors * weights).sum(dim=1) / lengths)
        elif mode == "mean_sqrt_len":
            pooled.append((token_vectors * weights).sum(dim=1) / lengths.sqrt())
        elif mode == "weightedmean":
            positions = torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=token_vectors.dtype)
            position_weights = weights * positions.view(1, -1, 1)
            pooled.append(
                (token_vectors * position_weights).sum(dim=1) / position_weights.sum(dim=1).clamp(min=1e-9)
            )
        elif mode == "lasttoken":
            # The last position the mask keeps, whether the tokenizer pads left or right.
            positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
            last = (positions * mask).argmax(dim=1)
            pooled.append(token_vectors[torch.arange(mask.shape[0], device=mask.device), last])
        else:
            raise UnsupportedTask(f"pooling mode {mode!r} is not supported")
    return torch.cat(pooled, dim=-1)


class _Dense:
    """A sentence-transformers Dense module: a linear layer and an activation."""

    def __init__(self, folder: Path, activation: str, device: Any, dtype: Any) -> None:
        torch = runtime.torch()
        settings = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.linear = torch.nn.Linear(
            settings["in_features"], settings["out_features"], bias=settings.get("bias", True)
        )
        self.linear.load_state_dict(_read_state_dict(folder))
        self.linear.to(device=device, dtype=dtype).eval()
        self.activation = activation

    def __call__(self, x: Any) -> Any:
        torch = runtime.torch()
        x = self.linear(x)
        functions = {
            "tanh": torch.tanh,
            "relu": torch.relu,
            "gelu": torch.nn.functional.gelu,
            "sigmoid": torch.sigmoid,
        }
        return functions[self.activation](x) if self.activation in functions else x


def _read_state_dict(folder: Path) -> dict[str, Any]:
    safetensors_file = folder / "model.safetensors"
    if safetensors_file.is_file():
        from safetensors.torch import load_file

        state = load_file(str(safetensors_file))
    else:
        state = runtime.torch().load(str(folder / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    return {key.removeprefix("linear."): value for key, value in state.items()}


class FeatureParameters(TaskParameters):
    # Cut texts longer than the model accepts (off: a long text fails instead).
    truncation: bool = True


class SentenceParameters(TaskParameters):
    # Override the folder's Normalize module: true gives unit vectors, false raw pooled ones.
    normalize: bool | None = None


class _Encoder(Task):
    """Shared by both tasks: tokenizer + base model, one padded forward pass per call."""

    batchable = True
    keepable = True
    precision_check = "vectors"

    def __init__(
        self,
        name: str,
        module: Any,
        tokenizer: Any,
        device: Any,
        max_length: int | None,
        lower_case: bool = False,
    ) -> None:
        super().__init__(name, module)
        self.tokenizer = tokenizer
        self.device = device
        self.max_length = max_length
        self.lower_case = lower_case

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        text = load_text(value, self.task_name)
        return text.lower() if self.lower_case else text

    def forward(self, texts: list[str], truncation: bool = True) -> tuple[Any, Any]:
        """(token vectors [batch, seq, dim], attention mask [batch, seq]) for texts."""
        encoded = self.tokenizer(
            texts,
            padding=True,
            truncation=truncation,
            max_length=self.max_length if truncation else None,
            return_tensors="pt",
        ).to(self.device)
        with runtime.no_grad():
            output = self.module(**encoded)
        hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
        return hidden, encoded["attention_mask"]

    def release(self) -> None:
        super().release()
        self.tokenizer = None


def _load_encoder(lc: LoadContext, folder: Path) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    lc.report("loading tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=lc.trust_remote_code)
    lc.report("loading weights")
    model = AutoModel.from_pretrained(str(folder), **lc.pretrained_kwargs())
    return model.to(lc.device).eval(), tokenizer


class FeatureExtraction(_Encoder):
    """``[1, tokens, hidden]`` per text, as the transformers feature-extraction pipeline returns it."""

    name = "feature-extraction"
    Parameters = FeatureParameters

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        model, tokenizer = _load_encoder(lc, lc.source.path)
        return cls(lc.task, model, tokenizer, lc.device, _model_max_length(tokenizer, model))

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        hidden, mask = self.forward(items, params.truncation)
        vectors = hidden.float().cpu().numpy()
        keep = mask.bool().cpu().numpy()
        return [vectors[i][keep[i]][None, :, :] for i in range(len(items))]

    def probe(self) -> Any:
        """Every token's vector of the probe texts, padding excluded."""
        hidden, mask = self.forward(list(PROBE_TEXTS))
        return hidden.float().cpu().numpy()[mask.bool().cpu().numpy()]


class SentenceEmbeddings(_Encoder):
    """One float32 vector per text (a list of floats)."""

    name = "sentence-embeddings"
    Parameters = SentenceParameters

    def __init__(
        self, name: str, module: Any, tokenizer: Any, device: Any, config: SentenceConfig, dense: list[_Dense]
    ) -> None:
        max_length = config.max_seq_length or _model_max_length(tokenizer, module)
        super().__init__(name, module, tokenizer, device, max_length, config.do_lower_case)
        self.config = config
        self.dense = dense

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        config = read_sentence_config(lc.source.path)
        model, tokenizer = _load_encoder(lc, config.transformer_path)
        dense = [_Dense(path, activation, lc.device, lc.dtype) for path, activation in config.dense]
        return cls(lc.task, model, tokenizer, lc.device, config, dense)

    @property
    def dimension(self) -> int:
        hidden = int(self.module.config.hidden_size) * len(self.config.pooling)
        return int(self.dense[-1].linear.out_features) if self.dense else hidden

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        matrix = self.embed(items, params.normalize)
        return list(matrix)

    def embed(self, texts: list[str], normalize: bool | None = None) -> Any:
        """float32 numpy [len(texts), dimension]."""
        torch = runtime.torch()
        hidden, mask = self.forward(texts)
        with runtime.no_grad():
            vectors = pool(hidden, mask, self.config.pooling)
            for dense in self.dense:
                vectors = dense(vectors)
            if self.config.normalize if normalize is None else normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors.float().cpu().numpy()

    def probe(self) -> Any:
        return self.embed(list(PROBE_TEXTS))

    def convert(self, dtype: Any) -> None:
        super().convert(dtype)
        for dense in self.dense:
            dense.linear.to(dtype)

    def release(self) -> None:
        super().release()
        self.dense = []


def _model_max_length(tokenizer: Any, model: Any) -> int | None:
    limit = getattr(tokenizer, "model_max_length", None)
    positions = getattr(model.config, "max_position_embeddings", None)
    candidates = [n for n in (limit, positions) if isinstance(n, int) and 0 < n < 1_000_000]
    return min(candidates) if candidates else None
