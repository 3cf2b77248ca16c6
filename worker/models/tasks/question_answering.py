"""Extractive question answering: find the span of ``context`` that answers ``question``.

transformers 5 has no question-answering pipeline, so the worker does what it did: split a long
context into overlapping windows (``doc_stride``), score every span of at most ``max_answer_len``
tokens inside the context as P(start) x P(end) (softmax over the context tokens of its window),
and map the best spans back to characters. Result per input, as the pipeline shaped it:
``{"score", "start", "end", "answer"}``, or a list of them, best first, with ``top_k`` > 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.errors import InvalidInput, InvalidParams
from worker.models import runtime
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_question
from worker.models.tasks import bounds
from worker.models.tasks.base import PROBE_TEXTS, LoadContext, Task, TaskParameters, TokenizedTask
from worker.runtime.context import RequestContext

# A long context is split into many windows (a 2 MB context into thousands): they run this many at a
# time, so that a forward pass's memory does not grow with the context.
WINDOWS_PER_PASS = 32


class QuestionAnsweringParameters(TaskParameters):
    top_k: bounds.Answers = 1
    max_answer_len: int = 15
    max_seq_len: int = 384
    doc_stride: int = 128
    # Allow "no answer" (the [CLS] span, answer "") when the model scores it best.
    handle_impossible_answer: bool = False


class QuestionAnswering(TokenizedTask):
    name = "question-answering"
    Parameters = QuestionAnsweringParameters
    precision_check = "probabilities"

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        lc.report("loading tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(lc.path, trust_remote_code=lc.trust_remote_code)
        if not getattr(tokenizer, "is_fast", False):
            raise InvalidParams(
                "question-answering needs a fast tokenizer (tokenizer.json) for character offsets"
            )
        lc.report("loading weights")
        model = AutoModelForQuestionAnswering.from_pretrained(lc.path, **lc.pretrained_kwargs())
        return cls(lc.task, model.to(lc.device).eval(), tokenizer, lc.device)

    def probe(self) -> Any:
        """Where the answer starts and ends, as probabilities over the positions of one question."""
        encoded = self.tokenizer(
            "What is the capital of France?", " ".join(PROBE_TEXTS), return_tensors="pt"
        ).to(self.device)
        with runtime.no_grad():
            output = self.module(**encoded)
        logits = runtime.torch().cat([output.start_logits, output.end_logits]).float()
        return logits.softmax(dim=-1).cpu().numpy()

    def validate(self, parameters: dict[str, Any]) -> Any:
        params = super().validate(parameters)
        if params.top_k < 1 or params.max_answer_len < 1:
            raise InvalidParams("top_k and max_answer_len must be at least 1")
        if not 0 <= params.doc_stride < params.max_seq_len:
            raise InvalidParams("doc_stride must be smaller than max_seq_len")
        return params

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        return load_question(value, self.task_name)

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        results = []
        for question, context in items:
            if ctx is not None:
                ctx.check_cancelled()
            results.append(self._answer(question, context, params))
        return results

    def shape(self, output: Any, params: Any) -> Any:
        return output[0] if params.top_k == 1 else output

    def _answer(self, question: str, context: str, params: Any) -> list[dict[str, Any]]:
        limit = min(params.max_seq_len, self.tokenizer.model_max_length or params.max_seq_len)
        positions = getattr(self.module.config, "max_position_embeddings", None)
        if isinstance(positions, int):
            limit = min(limit, positions)
        question_tokens = len(self.tokenizer(question, add_special_tokens=False)["input_ids"])
        room = limit - question_tokens - self.tokenizer.num_special_tokens_to_add(pair=True)
        if room < 8:
            raise InvalidInput(f"the question is too long: {question_tokens} tokens of the model's {limit}")
        encoded = self.tokenizer(
            question,
            context,
            truncation="only_second",
            max_length=limit,
            stride=min(params.doc_stride, room // 2),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping").tolist()
        encoded.pop("overflow_to_sample_mapping", None)
        windows = len(offsets)
        best: dict[tuple[int, int], dict[str, Any]] = {}
        for first in range(0, windows, WINDOWS_PER_PASS):
            passed = range(first, min(first + WINDOWS_PER_PASS, windows))
            batch = {name: tensor[first : passed.stop] for name, tensor in encoded.items()}
            with runtime.no_grad():
                output = self.module(**{name: t.to(self.device) for name, t in batch.items()})
            starts = output.start_logits.float().cpu().numpy()
            ends = output.end_logits.float().cpu().numpy()
            for w in passed:
                in_context = [sid == 1 for sid in encoded.sequence_ids(w)]
                spans = self._window_spans(
                    starts[w - first], ends[w - first], in_context, offsets[w], context, params
                )
                for span in spans:
                    key = (span["start"], span["end"])
                    if key not in best or best[key]["score"] < span["score"]:
                        best[key] = span
            # Only the top_k best spans can still be answers (a span's best score only grows), so
            # the candidates kept do not grow with the context.
            best = dict(sorted(best.items(), key=lambda item: -item[1]["score"])[: params.top_k])
        ranked = sorted(best.values(), key=lambda c: -c["score"])
        return ranked[: params.top_k] or [{"score": 0.0, "start": 0, "end": 0, "answer": ""}]

    @staticmethod
    def _window_spans(
        start_logits: np.ndarray,
        end_logits: np.ndarray,
        in_context: list[bool],
        offsets: list[list[int]],
        context: str,
        params: Any,
    ) -> list[dict[str, Any]]:
        allowed = np.array(in_context, dtype=bool)
        if params.handle_impossible_answer:
            allowed[0] = True  # the [CLS] position stands for "no answer"
        start_p = _masked_softmax(start_logits, allowed)
        end_p = _masked_softmax(end_logits, allowed)
        scores = np.triu(np.outer(start_p, end_p))
        scores = np.tril(scores, params.max_answer_len - 1)
        flat = np.argsort(-scores, axis=None)[: params.top_k * 4]
        spans = []
        for index in flat:
            start, end = np.unravel_index(index, scores.shape)
            score = float(scores[start, end])
            if score <= 0.0:
                break
            if start == 0 and end == 0 and params.handle_impossible_answer:
                spans.append({"score": score, "start": 0, "end": 0, "answer": ""})
            elif in_context[start] and in_context[end]:
                first, last = offsets[start][0], offsets[end][1]
                spans.append({"score": score, "start": first, "end": last, "answer": context[first:last]})
        return spans


def _masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    masked = np.where(allowed, logits.astype(np.float64), -np.inf)
    masked -= masked.max()
    exp = np.exp(masked)
    return exp / exp.sum()
