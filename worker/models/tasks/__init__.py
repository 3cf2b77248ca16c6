"""The task table: task names to the classes that run them, and how a task is settled when the
client names none.

Tasks with a class here are implemented by the worker (validated parameters, batching, streaming).
Any other task transformers' ``pipeline()`` knows goes through the generic path; anything else is
UnsupportedTask. Classes are imported on first use so that importing this module stays cheap.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from worker.errors import InvalidParams, UnsupportedTask
from worker.models.tasks.base import Task

_CLASSES: dict[str, str] = {
    "text-classification": "text:TextClassification",
    "token-classification": "text:TokenClassification",
    "zero-shot-classification": "text:ZeroShotClassification",
    "fill-mask": "text:FillMask",
    "question-answering": "question_answering:QuestionAnswering",
    "text-generation": "generation:TextGeneration",
    "summarization": "generation:Summarization",
    "translation": "generation:Translation",
    "text2text-generation": "generation:Text2TextGeneration",
    "feature-extraction": "embeddings:FeatureExtraction",
    "sentence-embeddings": "embeddings:SentenceEmbeddings",
    "automatic-speech-recognition": "audio:SpeechRecognition",
    "audio-classification": "audio:AudioClassification",
    "image-classification": "vision:ImageClassification",
    "object-detection": "vision:ObjectDetection",
    "zero-shot-image-classification": "vision:ZeroShotImageClassification",
    "image-to-text": "vision:ImageToText",
    "text-to-image": "diffusion:TextToImage",
    "image-to-image": "diffusion:ImageToImage",
    "inpainting": "diffusion:Inpainting",
    "text-to-speech": "speech:TextToSpeech",
}

ALIASES = {
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
    "sentence-similarity": "sentence-embeddings",
    "embeddings": "sentence-embeddings",
    "asr": "automatic-speech-recognition",
    "image-captioning": "image-to-text",
    "text-to-audio": "text-to-speech",
}

_TRANSLATION = re.compile(r"^translation_[a-z]{2,3}_to_[a-z]{2,3}$")

# Architecture class-name endings to tasks, for folders whose task is not stated anywhere.
_ARCHITECTURE_SUFFIXES = [
    ("ForQuestionAnswering", "question-answering"),
    ("ForTokenClassification", "token-classification"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("ForAudioClassification", "audio-classification"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("VisionEncoderDecoderModel", "image-to-text"),
    ("ForTextToSpeech", "text-to-speech"),
]
_AUDIO_MODEL_TYPES = {
    "wav2vec2",
    "hubert",
    "wavlm",
    "data2vec-audio",
    "unispeech",
    "unispeech-sat",
    "sew",
    "sew-d",
    "wav2vec2-conformer",
    "whisper",
    "audio-spectrogram-transformer",
    "wav2vec2-bert",
}
# Models that speak, whatever their class is called (VitsModel would read as feature-extraction).
_SPEECH_MODEL_TYPES = {"vits", "bark", "musicgen", "musicgen_melody"}
_ZERO_SHOT_IMAGE_TYPES = {"clip", "siglip", "siglip2", "chinese_clip", "altclip", "align", "owlvit"}


def canonical(name: str) -> str:
    name = ALIASES.get(name, name)
    return "translation" if _TRANSLATION.match(name) else name


def known(name: str) -> bool:
    return name in _CLASSES or _generic_supported(name)


def task_class(name: str) -> type[Task]:
    target = _CLASSES.get(name)
    if target is None:
        if not _generic_supported(name):
            raise UnsupportedTask(f"unknown task {name!r}")
        target = "generic:GenericPipeline"
    module_name, class_name = target.split(":")
    module = importlib.import_module(f"worker.models.tasks.{module_name}")
    return getattr(module, class_name)  # type: ignore[no-any-return]


def settle_task(requested: str | None, folder: Path, config: Any) -> str:
    """The task to load: the one requested (checked), else the one the folder implies."""
    if requested is not None:
        name = canonical(requested)
        if not known(name):
            raise UnsupportedTask(
                f"unknown task {requested!r}; known tasks: {', '.join(sorted(_CLASSES))} "
                "and the other transformers pipeline tasks"
            )
        return name
    guessed = guess_task(folder, config)
    if guessed is None:
        raise InvalidParams(f"the task of {folder.name!r} cannot be told from its files; pass task")
    return guessed


def guess_task(folder: Path, config: Any) -> str | None:
    from worker.models.diffusion import folder as pipeline_folder

    if pipeline_folder.is_pipeline(folder):
        return pipeline_folder.task_of(folder)
    if (folder / "modules.json").is_file():
        return "sentence-embeddings"
    tag = _pipeline_tag(folder)
    if tag is not None and known(canonical(tag)):
        return canonical(tag)
    return _task_from_architecture(config)


def _pipeline_tag(folder: Path) -> str | None:
    """``pipeline_tag`` from the model card's YAML header, as hub downloads include it."""
    card = folder / "README.md"
    if not card.is_file():
        return None
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    header = text[3:].split("\n---", 1)[0]
    for line in header.splitlines():
        if line.startswith("pipeline_tag:"):
            return line.split(":", 1)[1].strip().strip("'\"") or None
    return None


def _task_from_architecture(config: Any) -> str | None:
    if config is None:
        return None
    model_type = getattr(config, "model_type", "")
    if model_type in _ZERO_SHOT_IMAGE_TYPES:
        return "zero-shot-image-classification"
    if model_type in _SPEECH_MODEL_TYPES:
        return "text-to-speech"
    for architecture in getattr(config, "architectures", None) or []:
        if architecture.endswith("ForSequenceClassification"):
            return "audio-classification" if model_type in _AUDIO_MODEL_TYPES else "text-classification"
        if architecture.endswith("ForConditionalGeneration"):
            if model_type in _AUDIO_MODEL_TYPES:
                return "automatic-speech-recognition"
            if getattr(config, "is_encoder_decoder", False):
                return "text2text-generation"
            return None
        for suffix, task in _ARCHITECTURE_SUFFIXES:
            if architecture.endswith(suffix):
                return task
        if architecture.endswith("Model"):
            return "feature-extraction"
    return None


def _generic_supported(name: str) -> bool:
    from transformers.pipelines import SUPPORTED_TASKS

    return name in SUPPORTED_TASKS
