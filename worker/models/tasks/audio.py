"""Audio tasks: automatic-speech-recognition (Whisper and CTC models) and audio-classification.

Audio arrives as a path, encoded bytes or a tensor and is decoded and resampled to the model's
sampling rate before the pipeline sees it. Results as the pipelines shape them:

    automatic-speech-recognition  {"text", "chunks"?: [{"text", "timestamp": [start, end]}]}
    audio-classification          [{"label", "score"}, ...]

Long audio: beyond ``LONG_AUDIO_SECONDS`` a transcription runs in chunks of that length (with the
pipeline's overlapping strides) unless ``chunk_length_s`` says otherwise; Whisper would otherwise
hear only the first 30 seconds.
"""

from __future__ import annotations

from typing import Any, Literal

from worker.errors import InvalidParams
from worker.models.tasks import bounds
from worker.models.tasks.base import TaskParameters, given
from worker.models.tasks.generation import GENERATION_PRECISION, positions
from worker.models.tasks.pipelined import PipelineTask
from worker.models.tasks.text import ClassificationParameters
from worker.runtime.context import RequestContext

LONG_AUDIO_SECONDS = 30.0
# How far one chunk of long audio moves on from the last, at least: at most 3,600 forward passes an hour.
MIN_CHUNK_STEP_SECONDS = 1.0


class SpeechRecognitionParameters(TaskParameters):
    # true: segment timestamps (Whisper) or word timestamps (CTC); "word" / "char" for CTC models.
    return_timestamps: bool | Literal["word", "char"] | None = None
    # Bounded below: a 1-ms chunk would cut an hour of audio into 3.6 million forward passes (and so is a
    # stride that leaves a chunk a few samples to move on).
    chunk_length_s: bounds.ChunkSeconds | None = None
    stride_length_s: bounds.StrideSeconds | None = None
    # Whisper: the spoken language ("english", "fr", ...) and "transcribe" or "translate".
    language: str | None = None
    task: Literal["transcribe", "translate"] | None = None
    max_new_tokens: bounds.NewTokens | None = None
    num_beams: bounds.Beams | None = None


class SpeechRecognition(PipelineTask):
    name = "automatic-speech-recognition"
    pipeline_task = "automatic-speech-recognition"
    Parameters = SpeechRecognitionParameters
    modality = "audio"
    precision_reason = "speech recognition generates text: " + GENERATION_PRECISION
    # Chunked and timestamped decoding is per input; concurrent calls run side by side instead.
    batchable = False

    @property
    def is_ctc(self) -> bool:
        return str(getattr(self.pipe, "type", "")).startswith("ctc")

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        outputs = []
        for waveform in items:
            if ctx is not None:
                ctx.check_cancelled()
            outputs.append(self.pipe(waveform, **self._kwargs(params, len(waveform))))
        return outputs

    def _kwargs(self, params: Any, samples: int) -> dict[str, Any]:
        kwargs = given(params, exclude=("language", "task", "max_new_tokens", "num_beams"))
        generate_kwargs = given(params, exclude=("return_timestamps", "chunk_length_s", "stride_length_s"))
        if self.is_ctc:
            if generate_kwargs:
                raise InvalidParams(
                    f"{sorted(generate_kwargs)} apply to sequence-to-sequence models, not CTC"
                )
            if kwargs.get("return_timestamps") is True:
                kwargs["return_timestamps"] = "word"
            elif kwargs.get("return_timestamps") is False:
                # The CTC pipeline reads any given value as a timestamp kind; false means "none".
                del kwargs["return_timestamps"]
        elif generate_kwargs:
            self._check_new_tokens(generate_kwargs.get("max_new_tokens"))
            kwargs["generate_kwargs"] = generate_kwargs
        if "chunk_length_s" not in kwargs and samples > LONG_AUDIO_SECONDS * self.sampling_rate:
            kwargs["chunk_length_s"] = LONG_AUDIO_SECONDS
        chunk, stride = kwargs.get("chunk_length_s"), kwargs.get("stride_length_s")
        if chunk is not None and stride is not None and chunk - 2 * stride < MIN_CHUNK_STEP_SECONDS:
            # Each chunk moves on by what its strides on both sides leave. Nothing (after the pipeline rounds
            # to its frames) is a ValueError mid-call; a few samples is millions of forward passes an hour.
            raise InvalidParams(
                f"chunk_length_s ({chunk:g}) minus twice stride_length_s ({stride:g}) must leave at least "
                f"{MIN_CHUNK_STEP_SECONDS:g} s between chunks"
            )
        if "chunk_length_s" in kwargs and not self.is_ctc:
            kwargs["ignore_warning"] = True  # chunking seq2seq models is what we mean to do
        return kwargs

    def _check_new_tokens(self, wanted: int | None) -> None:
        """Refuse what transformers would refuse half-way: more tokens than the decoder's positions hold
        after its prompt (Whisper's: start of transcript, language, task, no timestamps)."""
        config = self.pipe.model.config
        limit = positions(config)
        if wanted is None or limit is None:
            return
        prompt = 4 if getattr(config, "model_type", "") == "whisper" else 1
        if wanted > limit - prompt:
            raise InvalidParams(
                f"max_new_tokens {wanted}: this model's decoder holds {limit} positions and its prompt takes "
                f"up to {prompt}, so at most {limit - prompt} new tokens"
            )


class AudioClassification(PipelineTask):
    name = "audio-classification"
    pipeline_task = "audio-classification"
    Parameters = ClassificationParameters
    modality = "audio"
    precision_reason = "the check has no probe sound for audio models yet"
