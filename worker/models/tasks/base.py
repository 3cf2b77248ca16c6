"""What every task is: a loaded model plus the four steps of a run.

    validate     parameters (a dict from the wire) -> the task's typed Parameters Struct
    load_input   one wire input -> what the model takes (str, waveform, PIL image, ...)
    infer        a list of loaded inputs -> one raw output each (one forward pass where it can)
    shape        one raw output -> plain lists/dicts/numbers, shaped as transformers pipelines shape it

``infer`` is the only step that touches the model; the dynamic batcher calls it with the inputs of
several requests at once when the task is ``batchable``. Each family of tasks lives in its own
module (text, generation, embeddings, audio, vision, generic).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import msgspec

from worker.errors import InvalidParams
from worker.models.inputs.sources import InputSources
from worker.models.inputs.spec import InputObject
from worker.models.sources import ModelSource
from worker.runtime.context import RequestContext

# The probe input of dtype "auto"'s check (worker.models.precision): short, ordinary sentences.
PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital and largest city of France.",
    "Models run in a worker process and answer over a pipe.",
)


class TaskParameters(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of each task's run parameters: unknown names are refused, never silently ignored."""


class NoParameters(TaskParameters):
    pass


@dataclass
class LoadContext:
    """Everything a task needs to build itself from a model folder."""

    source: ModelSource
    task: str  # the canonical task name
    device: Any  # torch.device
    dtype: Any  # torch.dtype
    config: Any  # transformers PretrainedConfig, or None for folders without config.json
    trust_remote_code: bool
    options: dict[str, Any] = field(default_factory=dict)  # passed through to from_pretrained
    report: Callable[[str], None] = lambda stage: None

    @property
    def path(self) -> str:
        return str(self.source.path)

    def pretrained_kwargs(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "trust_remote_code": self.trust_remote_code, **self.options}


class Task(ABC):
    name: ClassVar[str]
    Parameters: ClassVar[type[TaskParameters]] = NoParameters
    # infer() runs a real batched forward pass over many inputs: the dynamic batcher may coalesce.
    batchable: ClassVar[bool] = False
    # Outputs are arrays that ``keep: true`` can leave in the worker as tensors.
    keepable: ClassVar[bool] = False
    # How dtype "auto" checks a 16-bit copy against float32 (worker.models.precision): "vectors"
    # (cosine) or "probabilities" (top label, largest difference); None keeps float32, for this reason.
    precision_check: ClassVar[Literal["vectors", "probabilities"] | None] = None
    precision_reason: ClassVar[str] = "no check is defined for it"

    def __init__(self, name: str, module: Any) -> None:
        self.task_name = name
        self.module = module  # the torch module, for memory accounting and release

    @classmethod
    @abstractmethod
    def load(cls, lc: LoadContext) -> Task: ...

    def validate(self, parameters: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(parameters, self.Parameters)
        except msgspec.ValidationError as exc:
            raise InvalidParams(f"parameters for {self.task_name}: {exc}") from None

    @abstractmethod
    def load_input(self, value: InputObject, sources: InputSources) -> Any:
        """One wire input as the model takes it; ``sources`` gives kept tensors, files and the
        operator's bounds on them (see worker.models.inputs.sources)."""

    @abstractmethod
    def infer(self, items: list[Any], params: Any, ctx: RequestContext | None) -> list[Any]: ...

    def infer_batch(self, items: list[Any], params: Any) -> list[Any]:
        """``infer`` as the dynamic batcher calls it: many requests' inputs, no single request."""
        return self.infer(items, params, None)

    def shape(self, output: Any, params: Any) -> Any:
        return plain(output)

    def resolve(self, params: Any, sources: InputSources) -> Any:
        """The validated parameters with what they name in the worker looked up (a kept tensor
        given as a parameter); called once per run, after ``validate``. Most tasks name nothing."""
        return params

    def keep(self, store: Any, outputs: list[Any], params: Any) -> list[Any] | None:
        """``keep: true`` results when this task keeps its outputs its own way (a waveform with its
        sampling rate), one per output, all kept or none; None keeps them as plain tensors."""
        return None

    def batch_key(self, params: Any) -> bytes:
        """Requests coalesce only with requests whose parameters are the same."""
        return msgspec.json.encode(params)

    def probe(self) -> Any:
        """The outputs on a small fixed input, as a float32 numpy array [rows, n]: vectors or
        probabilities, as ``precision_check`` says. Only for tasks with a ``precision_check``."""
        raise NotImplementedError(f"{self.task_name} has no precision probe")

    def convert(self, dtype: Any) -> None:
        """Convert the model to ``dtype`` in place (parameter by parameter: no second copy)."""
        self.module.to(dtype)

    def use_module(self, module: Any) -> None:
        """Run the forward pass with ``module`` from now on: one that takes and returns what the
        model does (worker.models.onnx's session wrapper); the task's other steps stay as they are."""
        self.module = module

    def release(self) -> None:
        """Drop every reference to the model so that its memory can be freed."""
        self.module = None


class TokenizedTask(Task):
    """A task that tokenizes its own text inputs and runs its module on ``device``."""

    def __init__(self, name: str, module: Any, tokenizer: Any, device: Any) -> None:
        super().__init__(name, module)
        self.tokenizer = tokenizer
        self.device = device

    def release(self) -> None:
        super().release()
        self.tokenizer = None


def given(params: msgspec.Struct, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parameters the client set (None means "not set"), as keyword arguments."""
    return {
        name: value
        for name, value in msgspec.structs.asdict(params).items()
        if value is not None and name not in exclude
    }


def plain(value: Any) -> Any:
    """Numpy and torch values, tuples and nested containers as plain lists, dicts and numbers."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, bytes, bool, int, float)) or value is None:
        return value
    tolist = getattr(value, "tolist", None)
    if tolist is not None:  # numpy arrays and scalars, torch tensors
        detach = getattr(value, "detach", None)
        if detach is not None:
            value = detach().cpu()
        return value.tolist()
    if hasattr(value, "save") and hasattr(value, "mode"):  # a PIL image (depth maps, masks)
        import io

        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return {"png": buffer.getvalue(), "width": value.width, "height": value.height}
    raise TypeError(f"cannot return a value of type {type(value).__name__}")
