"""Text tasks run by transformers pipelines: text-classification, token-classification,
zero-shot-classification and fill-mask. All batchable. Results as the pipelines shape them:

    text-classification       {"label", "score"}, or a list of them with top_k
    token-classification      [{"entity" | "entity_group", "score", "word", "start", "end", ...}]
    zero-shot-classification  {"sequence", "labels", "scores"}
    fill-mask                 [{"score", "token", "token_str", "sequence"}]
"""

from __future__ import annotations

from typing import Any, Literal

from worker.errors import InvalidInput, InvalidParams
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.tasks import bounds
from worker.models.tasks.base import TaskParameters
from worker.models.tasks.pipelined import PipelineTask


class ClassificationParameters(TaskParameters):
    # How many labels to return, best first; unset returns the best one as a single object.
    top_k: bounds.TopK | None = None
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = None


class TextClassification(PipelineTask):
    name = "text-classification"
    pipeline_task = "text-classification"
    Parameters = ClassificationParameters
    precision_check = "probabilities"

    def as_batch_entry(self, output: Any, params: Any) -> Any:
        # For one text and no top_k the pipeline returns [{"label", "score"}]; in a list, the dict.
        if params.top_k is None and isinstance(output, list) and len(output) == 1:
            return output[0]
        return output


class TokenClassificationParameters(TaskParameters):
    aggregation_strategy: Literal["none", "simple", "first", "average", "max"] | None = None
    ignore_labels: list[str] | None = None
    stride: bounds.NonNegative | None = None


class TokenClassification(PipelineTask):
    name = "token-classification"
    pipeline_task = "token-classification"
    Parameters = TokenClassificationParameters
    precision_check = "probabilities"

    def validate(self, parameters: dict[str, Any]) -> Any:
        params = super().validate(parameters)
        window = getattr(self.pipe.tokenizer, "model_max_length", None)
        if params.stride is not None and isinstance(window, int) and params.stride >= window:
            # The pipeline's own ValueError, raised mid-call: the overlap must leave each window new tokens.
            raise InvalidParams(
                f"stride ({params.stride}) must be less than the model's {window}-token window"
            )
        return params


class ZeroShotParameters(TaskParameters):
    # Each label is a forward pass over the text (or, for images, a row of one batch).
    candidate_labels: bounds.CandidateLabels
    hypothesis_template: str | None = None
    multi_label: bool | None = None


class ZeroShotClassification(PipelineTask):
    name = "zero-shot-classification"
    pipeline_task = "zero-shot-classification"
    Parameters = ZeroShotParameters
    precision_check = "probabilities"

    def validate(self, parameters: dict[str, Any]) -> Any:
        params = super().validate(parameters)
        if not params.candidate_labels:
            raise InvalidParams("zero-shot-classification needs at least one candidate label")
        return params


class FillMaskParameters(TaskParameters):
    top_k: bounds.TopK | None = None
    targets: list[str] | None = None


class FillMask(PipelineTask):
    name = "fill-mask"
    pipeline_task = "fill-mask"
    Parameters = FillMaskParameters
    precision_check = "probabilities"

    def validate(self, parameters: dict[str, Any]) -> Any:
        params = super().validate(parameters)
        vocabulary = len(self.pipe.tokenizer)
        if params.top_k is not None and params.top_k > vocabulary:
            params.top_k = vocabulary  # there are no more candidates than tokens (torch.topk would fail)
        return params

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        text = load_text(value, self.task_name)
        mask = self.pipe.tokenizer.mask_token
        if mask is None or mask not in text:
            raise InvalidInput(f"fill-mask needs the mask token {mask!r} in each text")
        return text

    def probe_texts(self) -> list[str]:
        mask = self.pipe.tokenizer.mask_token
        return [f"Paris is the {mask} of France.", f"The quick brown fox jumps over the lazy {mask}."]

    def probe_rows(self, probs: Any, input_ids: Any) -> Any:
        # The vocabulary's distribution at the masks only: what fill-mask answers with.
        return probs[input_ids == self.pipe.tokenizer.mask_token_id]
