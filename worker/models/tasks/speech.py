"""Text-to-speech (alias text-to-audio): text in, a waveform out, as a WAV file or a kept tensor.

Each kind of model runs the way that gives every input its own waveform, cut to its own length:

    VITS, MMS-TTS   a list of texts in one padded forward pass, each waveform cut at its length
    SpeechT5        a spectrogram decoded step by step (a list in one padded batch), then the
                    HiFi-GAN vocoder named by model/load's ``options.vocoder``; the voice is a
                    ``speaker_embedding`` per request: a list of floats or a kept tensor
    anything else   transformers' text-to-audio pipeline (Bark, MusicGen), one input at a time,
                    generate() bounded by ``max_new_tokens``

Per input the result is ``{"audio": WAV bytes, "sampling_rate", "seconds", "format": "wav",
"encoding"}`` (16-bit PCM, or 32-bit float with ``encoding: "float32"``); with ``keep: true`` it is
``{"tensor": <tensor info>, "sampling_rate", "seconds"}``, the waveform kept as a float32 1-D tensor
that audio inputs take as ``{"tensor": handle, "sampling_rate": n}``.

Bounds: a text of at most MAX_TEXT_CHARS characters (and the model's own token limit), at most
MAX_NEW_TOKENS generated tokens; a kept waveform is charged to the tensor budget. Cancellation is
checked between batches of inputs and, for step-by-step models, at every decoding step.
"""

from __future__ import annotations

import json
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import msgspec
import numpy as np

from worker.errors import InvalidInput, InvalidParams
from worker.models import runtime
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.outputs.wav import encode_wav
from worker.models.tasks import bounds
from worker.models.tasks.base import LoadContext, Task, TaskParameters, given
from worker.runtime.context import RequestContext
from worker.tensors.types import TensorInfo

# One text is a sentence or a paragraph; a book is sent as a list. Output length follows text length.
MAX_TEXT_CHARS = 2000
# Generated tokens per input (MusicGen makes 50 a second: about 30 s). Without max_new_tokens: the
# model's generation config, else DEFAULT_NEW_TOKENS, and never more than MAX_NEW_TOKENS.
MAX_NEW_TOKENS = 1536
DEFAULT_NEW_TOKENS = 256
_TRANSFORMERS_DEFAULT_MAX_LENGTH = 20
# Inputs synthesised in one padded pass (VITS, SpeechT5): a long list runs in slices of this many.
BATCH_SIZE = 8
# Step-by-step models report progress every this many decoding steps.
PROGRESS_EVERY_STEPS = 16
# VITS: the rate divides every predicted duration and the noise scales multiply the sampled
# log-durations and latents, so the waveform's length (and memory) grows with 1 / rate and
# exponentially with the noise: outside these ranges a request could ask for gigabytes.
SPEAKING_RATE_RANGE = (0.1, 10.0)
MAX_NOISE_SCALE = 2.0
_SPEECH_PRECISION = "a check on one probe cannot vouch for every sample of synthesised audio"


class SpeakerTensor(msgspec.Struct, forbid_unknown_fields=True):
    """A speaker embedding kept in the worker (tensor/put, or a model's ``keep: true`` output)."""

    tensor: str


class SpeechParameters(TaskParameters):
    encoding: Literal["pcm16", "float32"] = "pcm16"
    # Seeds torch's global generator: repeatable when no other sampling runs at the same time.
    seed: int | None = None
    # VITS: > 1 speaks faster; the noise of the flow and of the duration predictor.
    speaking_rate: float | None = None
    noise_scale: float | None = None
    noise_scale_duration: float | None = None
    # SpeechT5: the voice, an x-vector of the model's speaker_embedding_dim floats (required).
    speaker_embedding: list[float] | SpeakerTensor | None = None
    # Pipeline models (Bark, MusicGen): generation.
    max_new_tokens: int | None = None
    do_sample: bool | None = None
    temperature: bounds.SamplingTemperature | None = None
    top_k: bounds.GenerationTopK | None = None
    top_p: bounds.TopP | None = None
    guidance_scale: bounds.GuidanceScale | None = None


_COMMON = frozenset({"encoding", "seed"})


@dataclass(frozen=True)
class SpeechRun:
    """A run's parameters with the speaker embedding looked up (Task.resolve)."""

    params: SpeechParameters
    speaker: np.ndarray | None = None


@dataclass(frozen=True)
class Waveform:
    samples: np.ndarray  # float32, 1-D
    sampling_rate: int

    @property
    def seconds(self) -> float:
        return self.samples.size / self.sampling_rate


class SpeechResult(msgspec.Struct):
    audio: bytes
    sampling_rate: int
    seconds: float
    format: Literal["wav"]
    encoding: Literal["pcm16", "float32"]


class KeptSpeech(msgspec.Struct):
    tensor: TensorInfo
    sampling_rate: int
    seconds: float


class TextToSpeech(Task):
    name = "text-to-speech"
    Parameters = SpeechParameters
    keepable = True
    precision_reason = _SPEECH_PRECISION

    def __init__(self, name: str, engine: _Engine) -> None:
        super().__init__(name, engine.model)
        self.engine = engine

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        options = dict(lc.options)
        vocoder_name = options.pop("vocoder", None)
        if vocoder_name is not None and not isinstance(vocoder_name, str):
            raise InvalidParams("options.vocoder names a folder or hub id (a string)")
        lc = replace(lc, options=options)
        model_type = getattr(lc.config, "model_type", None)
        if model_type == "vits":
            if vocoder_name is not None:
                raise InvalidParams("a VITS model makes its waveform itself: it takes no vocoder")
            return cls(lc.task, _Vits.load(lc))
        vocoder = _load_vocoder(lc, vocoder_name) if vocoder_name is not None else None
        if model_type == "speecht5":
            if vocoder is None:
                raise InvalidParams(
                    "SpeechT5 makes a spectrogram: name its HiFi-GAN vocoder with options.vocoder "
                    "(a folder, or a hub id such as microsoft/speecht5_hifigan)"
                )
            return cls(lc.task, _SpeechT5.load(lc, vocoder))
        return cls(lc.task, _Pipelined.load(lc, vocoder))

    def validate(self, parameters: dict[str, Any]) -> Any:
        params = super().validate(parameters)
        stray = sorted(set(given(params)) - _COMMON - self.engine.parameters)
        if stray:
            raise InvalidParams(
                f"parameters {stray} do not apply to a {self.engine.kind} model; it takes "
                f"{sorted(_COMMON | self.engine.parameters)}"
            )
        limit = self.engine.max_new_tokens
        if params.max_new_tokens is not None and not 1 <= params.max_new_tokens <= limit:
            raise InvalidParams(f"max_new_tokens must be from 1 to {limit}{self.engine.max_new_tokens_why}")
        low, high = SPEAKING_RATE_RANGE
        _check_range("speaking_rate", params.speaking_rate, low, high)
        _check_range("noise_scale", params.noise_scale, 0.0, MAX_NOISE_SCALE)
        _check_range("noise_scale_duration", params.noise_scale_duration, 0.0, MAX_NOISE_SCALE)
        return params

    def resolve(self, params: Any, sources: InputSources) -> Any:
        given_speaker = params.speaker_embedding
        if given_speaker is None:
            if self.engine.needs_speaker:
                raise InvalidParams(
                    f"a {self.engine.kind} model needs a speaker_embedding "
                    '(a list of floats, or {"tensor": handle})'
                )
            return SpeechRun(params)
        if isinstance(given_speaker, SpeakerTensor):
            speaker = np.asarray(sources.tensor(given_speaker.tensor))
            what = f"tensor {given_speaker.tensor!r}"
        else:
            speaker = np.asarray(given_speaker)
            what = "speaker_embedding"
        return SpeechRun(params, self.engine.check_speaker(speaker, what))

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        text = load_text(value, self.task_name)
        if not text.strip():
            raise InvalidParams("text-to-speech needs text to speak; an input is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidParams(
                f"an input text has {len(text)} characters; text-to-speech takes at most "
                f"{MAX_TEXT_CHARS} per input (send a long text as a list of sentences)"
            )
        self.engine.check_text(text)
        return text

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        run = params if isinstance(params, SpeechRun) else SpeechRun(params)
        size = self.engine.batch_size
        outputs: list[Waveform] = []
        for start in range(0, len(items), size):
            if ctx is not None:
                ctx.check_cancelled()
            steps = _Steps(ctx, len(outputs), len(items))
            outputs.extend(self.engine.synthesize(items[start : start + size], run, steps))
            if ctx is not None:
                ctx.check_cancelled()
                ctx.progress({"done": len(outputs), "total": len(items)})
        return outputs

    def shape(self, output: Any, params: Any) -> Any:
        encoding = _params(params).encoding
        return SpeechResult(
            audio=encode_wav(output.samples, output.sampling_rate, encoding),
            sampling_rate=output.sampling_rate,
            seconds=output.seconds,
            format="wav",
            encoding=encoding,
        )

    def keep(self, store: Any, outputs: list[Any], params: Any) -> list[Any] | None:
        infos = store.put_arrays([output.samples for output in outputs], copy=False)
        return [
            KeptSpeech(tensor=info, sampling_rate=output.sampling_rate, seconds=output.seconds)
            for info, output in zip(infos, outputs, strict=True)
        ]

    def convert(self, dtype: Any) -> None:
        self.engine.convert(dtype)

    def release(self) -> None:
        super().release()
        self.engine.release()


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise InvalidParams(f"{name} must be from {low:g} to {high:g}, got {value}")


def _params(params: Any) -> SpeechParameters:
    return params.params if isinstance(params, SpeechRun) else params  # type: ignore[no-any-return]


class _Steps:
    """Progress and cancellation inside one batch's synthesis: a step-by-step model calls ``step``
    at each decoding step, which raises RequestCancelled once the request is cancelled."""

    def __init__(self, ctx: RequestContext | None, done: int, total: int) -> None:
        self.ctx = ctx
        self.done = done
        self.total = total
        self.count = 0

    def step(self) -> None:
        if self.ctx is None:
            return
        self.ctx.check_cancelled()
        self.count += 1
        if self.count % PROGRESS_EVERY_STEPS == 0:
            self.ctx.progress({"done": self.done, "total": self.total, "step": self.count})


class _Engine(ABC):
    kind: str  # names the model in messages
    parameters: ClassVar[frozenset[str]] = frozenset()
    batch_size: ClassVar[int] = 1
    needs_speaker: ClassVar[bool] = False

    def __init__(self, model: Any, device: Any) -> None:
        self.model = model
        self.device = device
        self.max_tokens: int | None = None
        self.max_new_tokens = MAX_NEW_TOKENS
        self.max_new_tokens_why = ""

    @abstractmethod
    def tokenize(self, texts: list[str]) -> Any: ...

    @abstractmethod
    def synthesize(self, texts: list[str], run: SpeechRun, steps: _Steps) -> list[Waveform]: ...

    def check_text(self, text: str) -> None:
        if self.max_tokens is None:
            return
        count = int(self.tokenize([text])["input_ids"].shape[-1])
        if count > self.max_tokens:
            raise InvalidParams(
                f"an input text is {count} tokens long; this model takes at most {self.max_tokens}"
            )

    def check_speaker(self, speaker: np.ndarray, what: str) -> np.ndarray:
        raise InvalidParams(f"speaker_embedding does not apply to a {self.kind} model")

    def convert(self, dtype: Any) -> None:
        self.model.to(dtype)

    def release(self) -> None:
        self.model = None


class _Vits(_Engine):
    kind = "VITS"
    parameters = frozenset({"speaking_rate", "noise_scale", "noise_scale_duration"})
    batch_size = BATCH_SIZE

    def __init__(self, model: Any, tokenizer: Any, device: Any) -> None:
        super().__init__(model, device)
        self.tokenizer = tokenizer
        # The speaking rate and noise scales are attributes of the model, read during the forward
        # pass: a request's values are set there, so one request at a time.
        self.lock = threading.Lock()

    @classmethod
    def load(cls, lc: LoadContext) -> _Vits:
        from transformers import AutoTokenizer, VitsModel

        lc.report("loading tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(lc.path, trust_remote_code=lc.trust_remote_code)
        lc.report("loading weights")
        model = VitsModel.from_pretrained(lc.path, **lc.pretrained_kwargs())
        return cls(model.to(lc.device).eval(), tokenizer, lc.device)

    def tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(texts, padding=True, return_tensors="pt")

    def synthesize(self, texts: list[str], run: SpeechRun, steps: _Steps) -> list[Waveform]:
        torch = runtime.torch()
        encoded = self.tokenize(texts).to(self.device)
        if encoded["input_ids"].shape[-1] == 0:
            raise InvalidInput("nothing in the text is in this model's vocabulary")
        overrides = given(run.params, exclude=tuple(_COMMON))
        with self.lock, _attributes_set(self.model, overrides), runtime.no_grad():
            if run.params.seed is not None:
                torch.manual_seed(run.params.seed)
            output = self.model(**encoded)
        rate = int(self.model.config.sampling_rate)
        waveforms = output.waveform.float().cpu().numpy()
        lengths = output.sequence_lengths.tolist()
        return _cut(waveforms, lengths, rate)

    def release(self) -> None:
        super().release()
        self.tokenizer = None


def _cut(padded: np.ndarray, lengths: list[int], rate: int) -> list[Waveform]:
    """Each row of a padded batch cut to its length, as an array of its own: a view would keep the
    whole batch alive behind a kept tensor that the budget counts at its own size."""
    return [Waveform(padded[i, : lengths[i]].copy(), rate) for i in range(len(lengths))]


@contextmanager
def _attributes_set(target: Any, values: dict[str, Any]) -> Iterator[None]:
    saved = {name: getattr(target, name) for name in values}
    for name, value in values.items():
        setattr(target, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(target, name, value)


class _SpeechT5(_Engine):
    kind = "SpeechT5"
    parameters = frozenset({"speaker_embedding"})
    batch_size = BATCH_SIZE
    needs_speaker = True

    def __init__(self, model: Any, tokenizer: Any, vocoder: Any, device: Any) -> None:
        super().__init__(model, device)
        self.tokenizer = tokenizer
        self.vocoder = vocoder
        self.max_tokens = int(model.config.max_text_positions)
        # generate_speech() is its own decoding loop, with no stopping criteria: a hook on the
        # stop-probability layer, which runs once per step, checks the request of the thread that
        # is decoding.
        self._decoding = threading.local()
        model.speech_decoder_postnet.prob_out.register_forward_hook(self._on_step)

    @classmethod
    def load(cls, lc: LoadContext, vocoder: Any) -> _SpeechT5:
        from transformers import AutoTokenizer, SpeechT5ForTextToSpeech

        lc.report("loading tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(lc.path, trust_remote_code=lc.trust_remote_code)
        lc.report("loading weights")
        model = SpeechT5ForTextToSpeech.from_pretrained(lc.path, **lc.pretrained_kwargs())
        return cls(model.to(lc.device).eval(), tokenizer, vocoder, lc.device)

    def check_speaker(self, speaker: np.ndarray, what: str) -> np.ndarray:
        size = int(self.model.config.speaker_embedding_dim)
        if speaker.dtype.kind not in "fiu" or speaker.size != size or speaker.squeeze().ndim > 1:
            raise InvalidParams(
                f"{what} must be {size} numbers (this model's speaker_embedding_dim); "
                f"got shape {list(speaker.shape)} of {speaker.dtype}"
            )
        speaker = speaker.reshape(1, size).astype(np.float32)
        if not np.isfinite(speaker).all():
            # NaN or infinity in the voice makes every sample NaN: a WAV of noise, not an error.
            raise InvalidParams(f"{what} must be finite numbers; it holds NaN or infinity")
        return speaker

    def tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(texts, padding=True, return_tensors="pt")

    def synthesize(self, texts: list[str], run: SpeechRun, steps: _Steps) -> list[Waveform]:
        torch = runtime.torch()
        assert run.speaker is not None  # TextToSpeech.resolve refuses a run without one
        encoded = self.tokenize(texts).to(self.device)
        speakers = torch.from_numpy(run.speaker).to(self.device, self.model.dtype).expand(len(texts), -1)
        self._decoding.steps = steps
        try:
            with runtime.no_grad():
                if run.params.seed is not None:
                    torch.manual_seed(run.params.seed)
                waveforms, lengths = self.model.generate_speech(
                    encoded["input_ids"],
                    speakers,
                    attention_mask=encoded["attention_mask"],
                    vocoder=self.vocoder,
                    return_output_lengths=True,
                )
        finally:
            self._decoding.steps = None
        rate = int(self.vocoder.config.sampling_rate)
        samples = waveforms.reshape(len(texts), -1).float().cpu().numpy()
        return _cut(samples, lengths, rate)

    def _on_step(self, module: Any, inputs: Any, output: Any) -> None:
        steps = getattr(self._decoding, "steps", None)
        if steps is not None:
            steps.step()

    def convert(self, dtype: Any) -> None:
        super().convert(dtype)
        self.vocoder.to(dtype)

    def release(self) -> None:
        super().release()
        self.tokenizer = self.vocoder = None


class _Pipelined(_Engine):
    kind = "generated-audio"
    parameters = frozenset({"max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "guidance_scale"})

    def __init__(self, pipe: Any) -> None:
        super().__init__(pipe.model, pipe.device)
        self.pipe = pipe
        self.kind = f"{pipe.model.config.model_type} (text-to-audio pipeline)"
        self.bark = pipe.model.config.model_type == "bark"
        if self.bark:
            # Bark's semantic model reads the text padded to max_input_semantic_length tokens and
            # cuts off the rest without a word; its positions hold that and the tokens it generates.
            text_length = _bark_semantic_config(pipe.model).max_input_semantic_length
            self.max_tokens = text_length
            positions = int(pipe.model.config.semantic_config.block_size)
            self.max_new_tokens = min(MAX_NEW_TOKENS, positions - text_length)
            self.max_new_tokens_why = (
                f" (Bark's semantic model has {positions} positions, {text_length} of them for the text)"
            )

    @classmethod
    def load(cls, lc: LoadContext, vocoder: Any) -> _Pipelined:
        from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES

        from worker.models.tasks.pipelined import build_pipeline

        model_type = getattr(lc.config, "model_type", None)
        if model_type in MODEL_FOR_TEXT_TO_SPECTROGRAM_MAPPING_NAMES and vocoder is None:
            # The pipeline would fetch a default vocoder from the hub; the worker loads what it is told.
            raise InvalidParams(
                f"a {model_type} model makes a spectrogram: name its vocoder with options.vocoder"
            )
        extra = {"vocoder": vocoder} if vocoder is not None else {}
        return cls(build_pipeline(lc, "text-to-audio", **extra))

    def tokenize(self, texts: list[str]) -> Any:
        # Counted as the pipeline tokenizes: Bark's processor adds no special tokens.
        return self.pipe.tokenizer(texts, return_tensors="pt", add_special_tokens=not self.bark)

    def synthesize(self, texts: list[str], run: SpeechRun, steps: _Steps) -> list[Waveform]:
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch = runtime.torch()
        generate_kwargs = given(run.params, exclude=tuple(_COMMON))
        if self.bark:
            # Bark is three models in one, each with its own generation config, and passes a plain
            # keyword to all three: the coarse model sets max_new_tokens itself (a TypeError if given
            # twice), from the count of semantic tokens. Those are what a request bounds.
            if "max_new_tokens" in generate_kwargs:
                generate_kwargs["semantic_max_new_tokens"] = generate_kwargs.pop("max_new_tokens")
        elif "max_new_tokens" not in generate_kwargs:
            generate_kwargs["max_new_tokens"] = self._default_new_tokens()

        class EachStep(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                steps.step()  # raises RequestCancelled
                return torch.zeros((input_ids.shape[0],), dtype=torch.bool, device=input_ids.device)

        outputs = []
        for text in texts:
            if run.params.seed is not None:
                torch.manual_seed(run.params.seed)
            with runtime.no_grad():
                output = self.pipe(
                    text,
                    generate_kwargs={
                        **generate_kwargs,
                        "stopping_criteria": StoppingCriteriaList([EachStep()]),
                    },
                )
            samples = np.asarray(output["audio"], dtype=np.float32)
            if samples.ndim == 2:  # (channels, samples): mixed down, as audio inputs do
                samples = samples.mean(axis=0)
            outputs.append(Waveform(np.ascontiguousarray(samples.reshape(-1)), int(output["sampling_rate"])))
        return outputs

    def _default_new_tokens(self) -> int:
        config = self.model.generation_config
        length = config.max_new_tokens
        if length is None and config.max_length != _TRANSFORMERS_DEFAULT_MAX_LENGTH:
            length = config.max_length
        return min(int(length or DEFAULT_NEW_TOKENS), MAX_NEW_TOKENS)

    def release(self) -> None:
        super().release()
        self.pipe = None


def _bark_semantic_config(model: Any) -> Any:
    """The semantic model's generation config, as BarkModel.generate() reads it (a dict in the
    model's generation config; transformers' defaults without one)."""
    from transformers.models.bark.generation_configuration_bark import BarkSemanticGenerationConfig

    semantic = getattr(model.generation_config, "semantic_config", None) or {}
    return (
        semantic
        if isinstance(semantic, BarkSemanticGenerationConfig)
        else BarkSemanticGenerationConfig(**semantic)
    )


def _load_vocoder(lc: LoadContext, name: str) -> Any:
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    from worker.models import sources

    lc.report("loading vocoder")
    source = sources.resolve(name, token=lc.options.get("token"), report=lc.report)
    config_file = source.path / "config.json"
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        model_type = None
    if model_type != SpeechT5HifiGanConfig.model_type:
        # from_pretrained would load another model's folder with random weights and a warning.
        raise InvalidParams(
            f"options.vocoder {name!r} is not a HiFi-GAN vocoder: its config.json says model_type "
            f"{model_type!r}, not {SpeechT5HifiGanConfig.model_type!r}"
        )
    try:
        vocoder = SpeechT5HifiGan.from_pretrained(str(source.path), dtype=lc.dtype)
    except (OSError, ValueError) as exc:
        raise InvalidParams(f"options.vocoder {name!r} is not a HiFi-GAN vocoder: {exc}") from None
    return vocoder.to(lc.device).eval()
