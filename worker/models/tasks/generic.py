"""The generic path: any transformers pipeline task the worker has no class for (depth-estimation,
image-segmentation, image-feature-extraction, text-to-audio, ...) instead of a refusal.

Inputs are decoded by what the pipeline was built with: an image processor means images, a
feature extractor with a sampling rate means audio, otherwise text. ``parameters`` go to the
pipeline call as they are (it rejects what it does not know). No batching: each input is its own
call. Outputs are converted to plain values (arrays to lists, PIL images to PNG bytes).
"""

from __future__ import annotations

from typing import Any

from worker.models.inputs.audio import load_audio
from worker.models.inputs.image import load_image
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.inputs.text import load_text
from worker.models.tasks.base import LoadContext, Task
from worker.models.tasks.pipelined import build_pipeline
from worker.runtime.context import RequestContext


class GenericPipeline(Task):
    name = "generic"

    def __init__(self, name: str, pipe: Any) -> None:
        super().__init__(name, getattr(pipe, "model", None))
        self.pipe = pipe
        extractor = getattr(pipe, "feature_extractor", None)
        if getattr(pipe, "image_processor", None) is not None:
            self.modality = "image"
        elif extractor is not None and getattr(extractor, "sampling_rate", None):
            self.modality = "audio"
            self.sampling_rate = int(extractor.sampling_rate)
        else:
            self.modality = "text"

    @classmethod
    def load(cls, lc: LoadContext) -> Task:
        return cls(lc.task, build_pipeline(lc, lc.task))

    def validate(self, parameters: dict[str, Any]) -> Any:
        return dict(parameters)

    def batch_key(self, params: Any) -> bytes:
        return repr(sorted(params.items())).encode()

    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        if self.modality == "image":
            return load_image(value, sources, self.task_name)
        if self.modality == "audio":
            return load_audio(value, self.sampling_rate, sources, self.task_name)
        return load_text(value, self.task_name)

    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]:
        outputs = []
        for item in items:
            if ctx is not None:
                ctx.check_cancelled()
            outputs.append(self.pipe(item, **params))
        return outputs

    def release(self) -> None:
        super().release()
        self.pipe = None
