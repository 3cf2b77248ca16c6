"""Bounds on the numbers clients send as task parameters.

They are msgspec constraints, so they are checked when a request's parameters are decoded: a value out
of range is -32602 naming the field (``Expected `float` > 0.0 - at `$.temperature```) before any work
starts, where transformers would fail half-way with a ValueError (-32000), divide by zero, or, worse,
accept it. NaN fails every comparison and so every bound; an upper bound keeps infinity out.

Beams and returned sequences multiply the sequences one generate() call holds in memory, so they are
capped: a client asking for a million beams is refused, not served until the machine runs out of memory.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

# Sequences per input that one generate() call may hold: beams, or sampled sequences returned.
MAX_BEAMS = 16
MAX_RETURN_SEQUENCES = 16
# Stop strings are matched against every token of the vocabulary when generation starts.
MAX_STOP_STRINGS = 16
MAX_STOP_LENGTH = 256
# A ceiling for counts that the model bounds more tightly where it can (worker.models.tasks.generation).
MAX_NEW_TOKENS = 1_000_000

# Sampling. A temperature of 0 is greedy decoding (worker.models.tasks.generation); top_k 0 keeps every token.
Temperature = Annotated[float, Meta(ge=0, le=100)]
SamplingTemperature = Annotated[float, Meta(gt=0, le=100)]  # where 0 has no meaning of its own
TopP = Annotated[float, Meta(gt=0, le=1)]
GenerationTopK = Annotated[int, Meta(ge=0)]
# How many answers to return (classification, fill-mask): at least one.
TopK = Annotated[int, Meta(ge=1)]
# 1 leaves the scores as they are; above 1 discourages repeats, below 1 encourages them.
RepetitionPenalty = Annotated[float, Meta(gt=0, le=100)]
NgramSize = Annotated[int, Meta(ge=0)]  # 0 turns the rule off
NewTokens = Annotated[int, Meta(ge=1, le=MAX_NEW_TOKENS)]
MinNewTokens = Annotated[int, Meta(ge=0, le=MAX_NEW_TOKENS)]
Beams = Annotated[int, Meta(ge=1, le=MAX_BEAMS)]
ReturnSequences = Annotated[int, Meta(ge=1, le=MAX_RETURN_SEQUENCES)]
StopStrings = Annotated[
    list[Annotated[str, Meta(min_length=1, max_length=MAX_STOP_LENGTH)]], Meta(max_length=MAX_STOP_STRINGS)
]
NonNegative = Annotated[int, Meta(ge=0)]
# A score threshold (object detection): a probability, 0 to 1.
Probability = Annotated[float, Meta(ge=0, le=1)]
# Speech recognition of long audio: chunks of at least a second (at most an hour); what strides leave
# between chunks is checked against the chunk (worker.models.tasks.audio).
ChunkSeconds = Annotated[float, Meta(ge=1, le=3600)]
StrideSeconds = Annotated[float, Meta(ge=0, le=1800)]
# Zero-shot classification runs the model once per label (text) or embeds every label (images).
MAX_CANDIDATE_LABELS = 1024
CandidateLabels = Annotated[list[str], Meta(max_length=MAX_CANDIDATE_LABELS)]
# Classifier-free guidance (MusicGen): 1 is none; a few is usual.
GuidanceScale = Annotated[float, Meta(ge=0, le=100)]
# Question answering: answers returned per question. Every span of a long context is a candidate,
# so without a cap a 50 KB context with top_k and max_answer_len of a billion held gigabytes of them.
MAX_ANSWERS = 1024
Answers = Annotated[int, Meta(le=MAX_ANSWERS)]  # at least 1: checked by the task, as before
