"""Tasks run by a transformers ``pipeline``: the worker adds typed parameters, input decoding and
batching; the pipeline does pre-processing, the forward pass and post-processing.

A list of inputs goes to the pipeline in one call with ``batch_size`` = its length, so a
coalesced batch is one padded forward pass (or ``batch_size`` 1 where the tokenizer cannot pad).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from worker.models import runtime
from worker.models.inputs.audio import load_audio
from worker.models.inputs.image import load_image
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.tasks.base import PROBE_TEXTS, LoadContext, Task, given
from worker.runtime.context import RequestContext

Modality = Literal["text", "audio", "image"]


def build_pipeline(lc: LoadContext, pipeline_task: str, **extra: Any) -> Any:
    from transformers import pipeline

    make: Any = pipeline  # typed by overloads on literal task names; ours is a runtime string
    lc.report("loading pipeline")
    options = dict(lc.options)
    token = options.pop("token", None)
    return make(
        pipeline_task,
        model=lc.path,
        device=lc.device,
        dtype=lc.dtype,
        trust_remote_code=lc.trust_remote_code,
        token=token,
        model_kwargs=options or None,
        **extra,
    )


class PipelineTask(Task):
    pipeline_task: ClassVar[str]
    modality: ClassVar[Modality] = "text"
    batchable = True

    def __init__(self, name: str, pipe: Any) -> None:
        super().__init__(name, pipe.model)
        self.pipe = pipe
        tokenizer = getattr(pipe, "tokenizer", None)
        # Batching text needs padding; without a pad token the pipeline runs inputs one by one.
        self.can_pad = tokenizer is None or tokenizer.pad_token is not None

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        return cls(lc.task, build_pipeline(lc, cls.pipeline_task))

    @property
    def sampling_rate(self) -> int:
        extractor = getattr(self.pipe, "feature_extractor", None)
        return int(getattr(extractor, "sampling_rate", 16_000))

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        if self.modality == "audio":
            return load_audio(value, self.sampling_rate, sources, self.task_name)
        if self.modality == "image":
            return load_image(value, sources, self.task_name)
        return load_text(value, self.task_name)

    def call_kwargs(self, params: Any) -> dict[str, Any]:
        return given(params)

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        kwargs = self.call_kwargs(params)
        if len(items) == 1:
            # Some pipelines unwrap a one-element list (fill-mask); a bare input is unambiguous.
            return [self.as_batch_entry(self.pipe(items[0], **kwargs), params)]
        batch_size = len(items) if self.can_pad else 1
        return list(self.pipe(list(items), batch_size=batch_size, **kwargs))

    def probe(self) -> Any:
        """Text classifiers' probabilities on the probe texts: one row per text, or per token for a
        model that labels tokens. Each text on its own, so no tokenizer needs a pad token."""
        torch = runtime.torch()
        rows = []
        for text in self.probe_texts():
            encoded = self.pipe.tokenizer(text, return_tensors="pt").to(self.pipe.device)
            with runtime.no_grad():
                logits = self.pipe.model(**encoded).logits[0]
            probs = probabilities(logits, self.pipe.model.config)
            rows.append(self.probe_rows(probs, encoded["input_ids"][0]))
        return torch.cat(rows).cpu().numpy()

    def probe_texts(self) -> list[str]:
        return list(PROBE_TEXTS)

    def probe_rows(self, probs: Any, input_ids: Any) -> Any:
        """The rows of one text's probabilities that the check compares."""
        return probs.reshape(-1, probs.shape[-1])

    def use_module(self, module: Any) -> None:
        super().use_module(module)
        self.pipe.model = module  # the pipeline calls its model for the forward pass

    def as_batch_entry(self, output: Any, params: Any) -> Any:
        """The output for one bare input, shaped as the pipeline shapes one entry of a list's
        output, so that running ``x`` always returns what running ``[x]`` returns for it."""
        return output

    def release(self) -> None:
        super().release()
        self.pipe = None


def probabilities(logits: Any, config: Any) -> Any:
    """float32 probabilities from logits, as the pipelines turn them into scores (sigmoid for
    multi-label and single-logit models, softmax otherwise)."""
    logits = logits.float()
    if getattr(config, "problem_type", None) == "multi_label_classification" or logits.shape[-1] == 1:
        return logits.sigmoid()
    return logits.softmax(dim=-1)
