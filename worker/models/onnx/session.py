"""An exported graph run by onnxruntime, wrapped so that a task calls it as it calls the torch model.

``OnnxModule`` takes the keyword tensors a transformers model takes and returns the output class the
model returns (``last_hidden_state``, ``logits``, ``start_logits``/``end_logits`` as torch tensors), and
carries the model's ``config``: the tasks and the transformers pipelines around them run unchanged.
Sessions run on the CPU with the worker's intra-op threads, one inter-op thread and sequential
execution: the dynamic batcher already gives each forward pass the whole batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from worker.errors import InvalidInput
from worker.models import runtime
from worker.models.onnx.graph import Signature
from worker.models.threads import spinning_allowed

# The output class each task's model returns, by the graph's outputs the task reads.
_OUTPUT_CLASSES = {
    "feature-extraction": "BaseModelOutput",
    "sentence-embeddings": "BaseModelOutput",
    "text-classification": "SequenceClassifierOutput",
    "zero-shot-classification": "SequenceClassifierOutput",
    "token-classification": "TokenClassifierOutput",
    "fill-mask": "MaskedLMOutput",
    "question-answering": "QuestionAnsweringModelOutput",
    "image-classification": "ImageClassifierOutput",
}
# Outputs a graph has for apps but the worker's tasks compute themselves (pooling, in torch).
_NOT_READ = {"sentence_embedding"}


def wait_policy() -> dict[str, str]:
    """Session settings for how idle intra-op threads wait. They sleep instead of spinning: a
    sidecar shares its cores with the app that started it, and a spinning pool takes a core the
    app needs while the worker waits for its next batch (issue 11, "Sharing the machine"). An operator
    who set OMP_WAIT_POLICY=ACTIVE asked for spinning threads: torch's and these alike."""
    return {"session.intra_op.allow_spinning": "1" if spinning_allowed() else "0"}


def open_session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    for key, value in wait_policy().items():
        options.add_session_config_entry(key, value)
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class OnnxModule:
    """An onnxruntime session in the shape of a transformers model, for one task."""

    def __init__(
        self, session: Any, task: str, signature: Signature, config: Any, parameters: int, path: Path
    ) -> None:
        import transformers.modeling_outputs as outputs

        torch = runtime.torch()
        self.session = session
        self.config = config
        self.signature = signature
        self.path = path
        self.parameters_count = parameters
        self.dtype = torch.float32
        self.device = torch.device("cpu")
        self.base_model_prefix = "onnx"
        self.info: Any = None  # the load result's ``onnx`` member (backend.OnnxInfo), once attached
        self._inputs = signature.inputs
        self._read = [spec.name for spec in signature.outputs if spec.name not in _NOT_READ]
        self._output_class = getattr(outputs, _OUTPUT_CLASSES[task])

    def __call__(self, **inputs: Any) -> Any:
        return self.forward(**inputs)

    def forward(self, **inputs: Any) -> Any:
        """The graph on the model's keyword inputs; an input the graph takes that the caller did not
        pass (token_type_ids from a tokenizer that makes none) is zeros, as the models default it."""
        torch = runtime.torch()
        feeds = {}
        for spec in self._inputs:
            value = inputs.get(spec.name)
            if value is None:
                if spec.name != "token_type_ids" or "input_ids" not in inputs:
                    raise InvalidInput(f"the ONNX graph needs the input {spec.name!r}")
                value = torch.zeros_like(inputs["input_ids"])
            array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            feeds[spec.name] = array.astype(np.float32 if spec.dtype == "float32" else np.int64, copy=False)
        results = self.session.run(self._read, feeds)
        return self._output_class(
            **{name: torch.from_numpy(result) for name, result in zip(self._read, results, strict=True)}
        )

    # What torch modules offer that the tasks and pipelines call on their model.
    def eval(self) -> OnnxModule:
        return self

    def to(self, *args: Any, **kwargs: Any) -> OnnxModule:
        return self

    def measure(self) -> tuple[int, int]:
        """(parameters of the exported model, bytes of the graph's files): what memory.measure reports."""
        size = sum(f.stat().st_size for f in self.path.parent.iterdir() if f.is_file())
        return self.parameters_count, size
