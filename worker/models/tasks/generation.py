"""Generation tasks: text-generation, summarization, translation, text2text-generation.

Each input is generated on its own (no batching), so each can stream: with a progressToken every
new piece of text is sent as ``$/progress {"index": i, "text": piece}`` as soon as it is decoded.
A stopping criterion looks at the request's cancellation flag before every decoding step, so
``$/cancelRequest`` stops generation within one step. Results as the pipelines shape them: a list
of ``{"generated_text"}`` (or ``summary_text`` / ``translation_text``) per input, one entry per
returned sequence.
"""

from __future__ import annotations

import threading
from typing import Any

from worker.errors import InvalidInput, InvalidParams
from worker.models import runtime
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.tasks import bounds
from worker.models.tasks.base import LoadContext, Task, TaskParameters, TokenizedTask, given
from worker.runtime.context import RequestContext

# Used when neither the request nor the model's generation config says how long to generate.
DEFAULT_MAX_NEW_TOKENS = 64
_TRANSFORMERS_DEFAULT_MAX_LENGTH = 20
# Why dtype "auto" keeps generation in float32 (worker.models.precision).
GENERATION_PRECISION = "a check on one input cannot vouch for every token of a long generated text"


class GenerationParameters(TaskParameters):
    # Bounded further by the positions the model holds (_bound_new_tokens).
    max_new_tokens: bounds.NewTokens | None = None
    min_new_tokens: bounds.MinNewTokens | None = None
    do_sample: bool | None = None
    # 0 is greedy decoding, as OpenAI-style clients mean it (_settle_sampling).
    temperature: bounds.Temperature | None = None
    top_k: bounds.GenerationTopK | None = None
    top_p: bounds.TopP | None = None
    repetition_penalty: bounds.RepetitionPenalty | None = None
    no_repeat_ngram_size: bounds.NgramSize | None = None
    num_beams: bounds.Beams | None = None
    num_return_sequences: bounds.ReturnSequences | None = None
    # Seeds torch's global generator: repeatable when no other sampling runs at the same time.
    seed: int | None = None
    # Stop as soon as the output ends with one of these strings.
    stop: bounds.StopStrings | None = None


_NOT_GENERATE_KWARGS = ("seed", "stop", "return_full_text", "src_lang", "tgt_lang", "prompt")


def generate(
    module: Any,
    tokenizer: Any,
    inputs: dict[str, Any],
    params: GenerationParameters,
    ctx: RequestContext | None,
    index: int,
) -> Any:
    """``module.generate`` with streaming to ``$/progress`` and cancellation; returns its sequences."""
    from transformers import StoppingCriteriaList

    torch = runtime.torch()
    kwargs = given(params, exclude=_NOT_GENERATE_KWARGS)
    config = module.generation_config
    if "max_new_tokens" not in kwargs and config.max_new_tokens is None:
        if not module.config.is_encoder_decoder or config.max_length in (
            None,
            _TRANSFORMERS_DEFAULT_MAX_LENGTH,
        ):
            kwargs["max_new_tokens"] = DEFAULT_MAX_NEW_TOKENS
    _bound_new_tokens(module.config, inputs, kwargs, explicit=params.max_new_tokens is not None)
    _settle_sampling(params, config, kwargs)
    if config.pad_token_id is None and tokenizer is not None:
        kwargs["pad_token_id"] = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
    if params.stop:
        kwargs["stop_strings"] = params.stop
        kwargs["tokenizer"] = tokenizer
    if params.seed is not None:
        torch.manual_seed(params.seed)
    single = (params.num_beams or config.num_beams or 1) == 1 and (params.num_return_sequences or 1) == 1
    streamer = (
        _ProgressStreamer(tokenizer, ctx, index)
        if ctx is not None and ctx.wants_progress and single
        else None
    )
    with runtime.no_grad():
        sequences = module.generate(
            **inputs,
            **kwargs,
            stopping_criteria=StoppingCriteriaList([_cancelled_criterion(ctx)]),
            streamer=streamer,
        )
    if ctx is not None:
        ctx.check_cancelled()
    return sequences


def _settle_sampling(params: GenerationParameters, config: Any, kwargs: dict[str, Any]) -> None:
    """Check sampling as transformers will read it (the request's settings, else the model's generation
    config), before any work and as -32602 rather than its ValueError half-way; and read a temperature of 0
    as greedy decoding, which is what OpenAI-style clients mean by it."""
    sample = params.do_sample if params.do_sample is not None else bool(config.do_sample)
    if params.temperature == 0:
        if params.do_sample:
            raise InvalidParams(
                "temperature 0 means greedy decoding; do_sample true needs a temperature above 0"
            )
        kwargs.pop("temperature", None)
        kwargs["do_sample"] = sample = False
    beams = params.num_beams or config.num_beams or 1
    sequences = params.num_return_sequences or config.num_return_sequences or 1
    if sequences > 1 and beams > 1 and sequences > beams:
        raise InvalidParams(f"num_return_sequences ({sequences}) must be at most num_beams ({beams})")
    if sequences > 1 and beams == 1 and not sample:
        raise InvalidParams(
            f"num_return_sequences ({sequences}) needs do_sample true, or num_beams of at least as many: "
            "greedy decoding makes one sequence"
        )


# Position schemes a model can run past: rotary and ALiBi attention, relative positions, recurrent state.
# What their configs give as a length is what they were trained on (and RoPE scaling stretches it), not
# the size of a table.
_STRETCHABLE = ("rope_parameters", "rope_scaling", "rotary_dim", "rotary_pct", "rotary_emb_base")
_NO_POSITION_TABLE = frozenset(
    {"rwkv", "mamba", "mamba2", "falcon_mamba", "bloom", "mpt", "xlnet", "reformer"}
)


def positions(config: Any) -> int | None:
    """The size of the decoder's position table where generation cannot run past it (learned or fixed
    absolute positions: GPT-2, OPT, BART, Marian, Whisper...); None for models without such a table."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    if any(getattr(text, name, None) is not None for name in _STRETCHABLE):
        return None
    if getattr(text, "model_type", "") in _NO_POSITION_TABLE:
        return None
    if getattr(text, "position_embedding_type", "absolute") not in ("absolute", None):
        return None
    for name in ("max_position_embeddings", "n_positions", "max_target_positions"):
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_room(config: Any, inputs: dict[str, Any], params: GenerationParameters) -> None:
    """Refuse a prompt that leaves the model no room, or an explicit max_new_tokens past it, before any
    generation of the request starts (a list's later prompt must not fail after earlier ones ran)."""
    wanted = params.max_new_tokens if params.max_new_tokens is not None else 1
    _bound_new_tokens(config, inputs, {"max_new_tokens": wanted}, explicit=True)


def _bound_new_tokens(config: Any, inputs: dict[str, Any], kwargs: dict[str, Any], explicit: bool) -> None:
    """Keep max_new_tokens within a position table's rows after the prompt (a decoder-only model's prompt
    takes positions too; an encoder-decoder's decoder starts with one token): past them the model fails
    half-way (IndexError). An explicit value beyond is refused; the default is shortened to fit."""
    limit = positions(config)
    wanted = kwargs.get("max_new_tokens")
    if limit is None or wanted is None:
        return
    ids = inputs.get("input_ids")
    used = 1 if config.is_encoder_decoder or ids is None else int(ids.shape[-1])
    room = limit - used
    if room < 1:
        raise InvalidInput(
            f"the prompt takes {used} tokens and this model holds {limit} positions: "
            "no room is left to generate"
        )
    if wanted <= room:
        return
    if explicit:
        raise InvalidParams(
            f"max_new_tokens {wanted}: this model holds {limit} positions and the prompt takes {used}, "
            f"so at most {room} new tokens"
        )
    kwargs["max_new_tokens"] = room


def _cancelled_criterion(ctx: RequestContext | None) -> Any:
    """A StoppingCriteria that stops every sequence once the request is cancelled (checked each step)."""
    from transformers import StoppingCriteria

    torch = runtime.torch()

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = ctx is not None and ctx.cancelled
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return Cancelled()


class _ProgressStreamer:
    """A transformers streamer that sends each newly decoded piece of text as ``$/progress``.

    generate() first puts the prompt (decoder-only) or the decoder start token (encoder-decoder),
    which is skipped. Text ending in an incomplete UTF-8 character is held back until it completes.
    """

    def __init__(self, tokenizer: Any, ctx: RequestContext, index: int) -> None:
        self.tokenizer = tokenizer
        self.ctx = ctx
        self.index = index
        self.tokens: list[int] = []
        self.sent = 0
        self.skipped_prompt = False

    def put(self, value: Any) -> None:
        if not self.skipped_prompt:
            self.skipped_prompt = True
            return
        self.tokens.extend(int(t) for t in value.reshape(-1).tolist())
        self._send(final=False)

    def end(self) -> None:
        self._send(final=True)

    def _send(self, final: bool) -> None:
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        if len(text) > self.sent:
            self.ctx.progress({"index": self.index, "text": text[self.sent :]})
            self.sent = len(text)


class TextGenerationParameters(GenerationParameters):
    # As the pipeline: the prompt followed by the continuation; false returns the continuation only.
    return_full_text: bool = True


class TextGeneration(TokenizedTask):
    name = "text-generation"
    Parameters = TextGenerationParameters
    precision_reason = GENERATION_PRECISION

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        from transformers import AutoModelForCausalLM

        tokenizer = _load_tokenizer(lc)
        lc.report("loading weights")
        model = AutoModelForCausalLM.from_pretrained(lc.path, **lc.pretrained_kwargs())
        return cls(lc.task, model.to(lc.device).eval(), tokenizer, lc.device)

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        if value.kind == "messages":
            if not getattr(self.tokenizer, "chat_template", None):
                raise InvalidInput(
                    "this model's tokenizer has no chat template; send text instead of messages"
                )
            return [{"role": m.role, "content": m.content} for m in value.messages or []]
        return load_text(value, self.task_name)

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        prompts = [self._encode(item) for item in items]
        for encoded in prompts:
            check_room(self.module.config, encoded, params)
        results = []
        for index, (item, encoded) in enumerate(zip(items, prompts, strict=True)):
            prompt_length = encoded["input_ids"].shape[1]
            sequences = generate(self.module, self.tokenizer, dict(encoded), params, ctx, index)
            texts = self.tokenizer.batch_decode(sequences[:, prompt_length:], skip_special_tokens=True)
            results.append([_full_text(item, text, params.return_full_text) for text in texts])
        return results

    def _encode(self, item: Any) -> Any:
        if isinstance(item, list):
            prompt = self.tokenizer.apply_chat_template(item, add_generation_prompt=True, tokenize=False)
            encoded = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        else:
            encoded = self.tokenizer(item, return_tensors="pt")
        return encoded.to(self.device)


def _full_text(item: Any, text: str, full: bool) -> dict[str, Any]:
    if isinstance(item, list):  # a chat: the conversation with the new assistant message appended
        if not full:
            return {"generated_text": text}
        return {"generated_text": [*item, {"role": "assistant", "content": text}]}
    return {"generated_text": item + text if full else text}


class TranslationParameters(GenerationParameters):
    # Language codes for multilingual models (mBART, M2M100, NLLB: e.g. "en_XX", "fr", "fra_Latn").
    src_lang: str | None = None
    tgt_lang: str | None = None


class _Seq2Seq(TokenizedTask):
    """Text in, text out with an encoder-decoder model."""

    output_key = "generated_text"
    prefix_key = ""
    precision_reason = GENERATION_PRECISION

    def __init__(self, name: str, module: Any, tokenizer: Any, device: Any) -> None:
        super().__init__(name, module, tokenizer, device)
        # Tokenizers of multilingual models carry the source language as state.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        from transformers import AutoModelForSeq2SeqLM

        tokenizer = _load_tokenizer(lc)
        lc.report("loading weights")
        model = AutoModelForSeq2SeqLM.from_pretrained(lc.path, **lc.pretrained_kwargs())
        return cls(lc.task, model.to(lc.device).eval(), tokenizer, lc.device)

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        return load_text(value, self.task_name)

    def prefix(self, params: Any) -> str:
        specific = getattr(self.module.config, "task_specific_params", None) or {}
        settings = specific.get(self.prefix_key, {}) if self.prefix_key else {}
        return str(settings.get("prefix") or getattr(self.module.config, "prefix", None) or "")

    def extra_generate_kwargs(self, params: Any) -> dict[str, Any]:
        return {}

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        results = []
        prefix = self.prefix(params)
        for index, text in enumerate(items):
            with self._tokenizer_lock:
                if getattr(params, "src_lang", None):
                    self.tokenizer.src_lang = params.src_lang
                encoded = self.tokenizer(prefix + text, return_tensors="pt", truncation=True)
            inputs = {**dict(encoded.to(self.device)), **self.extra_generate_kwargs(params)}
            sequences = generate(self.module, self.tokenizer, inputs, params, ctx, index)
            texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
            results.append([{self.output_key: t.strip()} for t in texts])
        return results


class Summarization(_Seq2Seq):
    name = "summarization"
    Parameters = GenerationParameters
    output_key = "summary_text"
    prefix_key = "summarization"


class Text2TextGeneration(_Seq2Seq):
    name = "text2text-generation"
    Parameters = GenerationParameters


class Translation(_Seq2Seq):
    name = "translation"
    Parameters = TranslationParameters
    output_key = "translation_text"

    def prefix(self, params: Any) -> str:
        specific = getattr(self.module.config, "task_specific_params", None) or {}
        key = f"translation_{params.src_lang}_to_{params.tgt_lang}"
        if key in specific:
            return str(specific[key].get("prefix") or "")
        return str(getattr(self.module.config, "prefix", None) or "")

    def extra_generate_kwargs(self, params: Any) -> dict[str, Any]:
        if not params.tgt_lang:
            return {}
        get_lang_id = getattr(self.tokenizer, "get_lang_id", None)
        try:
            token_id = (
                get_lang_id(params.tgt_lang)
                if get_lang_id
                else self.tokenizer.convert_tokens_to_ids(params.tgt_lang)
            )
        except (KeyError, ValueError):
            token_id = None
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            if key_is_prefix(self.module.config, params):
                return {}
            raise InvalidParams(
                f"tgt_lang {params.tgt_lang!r} is not a language this model's tokenizer knows"
            )
        return {"forced_bos_token_id": token_id}


def key_is_prefix(config: Any, params: Any) -> bool:
    """T5-style models name the language pair in a text prefix, not in a token."""
    specific = getattr(config, "task_specific_params", None) or {}
    return f"translation_{params.src_lang}_to_{params.tgt_lang}" in specific


def _load_tokenizer(lc: LoadContext) -> Any:
    from transformers import AutoTokenizer

    lc.report("loading tokenizer")
    return AutoTokenizer.from_pretrained(lc.path, trust_remote_code=lc.trust_remote_code)
