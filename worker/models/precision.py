"""What ``dtype: "auto"`` loads a model in, and the load-time check that lets it run in 16 bits.

Where the processor computes a 16-bit float natively (a CPU with AMX or AVX-512 BF16, a CUDA device)
an encoder runs about twice as fast in it as in float32. Whether a given model keeps its answers in 16
bits is a property of its weights, so it is measured, not assumed: "auto" loads the model in float32,
runs a small probe input, converts the model in place, runs the probe again, and keeps the 16-bit
model only when the two agree (embeddings: cosine >= 0.999 on every vector; classifiers: the same top
label on every row and probabilities within 0.01). Converting in place means the float32 copy is never
held next to the 16-bit one. When they disagree the 16-bit model is dropped and the float32 one
reloaded from its files (a 16-bit copy cannot be turned back into the float32 weights).

Which tasks may be checked is each task class's ``precision_check``; generation keeps float32, since a
check on one input cannot vouch for every later token of a long generated text. An explicit dtype is
never checked: it is what the client asked for.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from worker.models import devices, runtime
from worker.models.tasks.base import Task

log = logging.getLogger("worker.models")

# Thresholds of the check (see the module docstring): a 16-bit model closer than this is kept.
MIN_COSINE = 0.999
MAX_PROBABILITY_DIFFERENCE = 0.01

NativeBf16 = Literal["auto", "yes", "no"]


class Precision(msgspec.Struct):
    """The precision a model runs in, why, and the check's figures (null where not measured)."""

    chosen: str
    reason: str
    # The smallest cosine between a probe vector in 16 bits and in float32 (vector checks).
    cosine: float | None = None
    # The largest difference between a probe probability in 16 bits and in float32 (classifier checks).
    max_probability_difference: float | None = None


@dataclass(frozen=True)
class Plan:
    """The dtype to load in and, for "auto", a 16-bit dtype to check against it once loaded."""

    dtype: Any  # torch dtype the weights are loaded in
    reason: str  # why, when nothing is left to check
    candidate: Any | None = None  # a torch dtype to check after loading; None: no check

    @property
    def identity(self) -> str:
        """The part of a model's identity (the registry key) that precision decides."""
        if self.candidate is None:
            return devices.dtype_name(self.dtype)
        return f"auto:{devices.dtype_name(self.candidate)}"

    def settled(self) -> Precision:
        return Precision(chosen=devices.dtype_name(self.dtype), reason=self.reason)


def plan(
    requested: str, device: Any, task_class: type[Task], config_dtype: Any, native_bf16: NativeBf16
) -> Plan:
    """What to load in for ``requested`` ("auto" or a dtype name) on ``device``."""
    dtype = devices.resolve_dtype(requested, device, config_dtype)
    if requested != "auto":
        return Plan(dtype, "requested")
    torch = runtime.torch()
    if device.type != "cpu" and dtype != torch.float32:
        return Plan(dtype, "the dtype the model was saved in")
    candidate, missing = devices.native_half(device, native_bf16)
    if candidate is None:
        return Plan(dtype, missing)
    if task_class.precision_check is None:
        return Plan(dtype, f"{task_class.name} keeps float32 ({task_class.precision_reason})")
    return Plan(dtype, "", candidate)


def settle(task: Task, plan: Plan, reload: Callable[[], Task]) -> tuple[Task, Precision]:
    """Check ``plan.candidate`` on the loaded float32 ``task``: the task to keep and what was chosen."""
    if plan.candidate is None:
        return task, plan.settled()
    candidate = devices.dtype_name(plan.candidate)
    try:
        reference = task.probe()
        task.convert(plan.candidate)
        probed = task.probe()
    except Exception as exc:  # a probe that cannot run says nothing about the 16-bit model: keep float32
        log.warning("precision check of %s failed to run (%s): keeping float32", candidate, exc)
        task.release()
        reason = f"the {candidate} check could not run: {str(exc)[:200]}"
        return reload(), Precision(chosen="float32", reason=reason)
    if task.precision_check == "vectors":
        cosine = min_cosine(reference, probed)
        # Rounded toward failing, so that a reported figure never looks better than the check found.
        passed, figures = cosine >= MIN_COSINE, {"cosine": _rounded(cosine, math.floor)}
        verdict = f"cosine {cosine:.6f} {'>=' if passed else '<'} {MIN_COSINE}"
    else:
        same, difference = compare_probabilities(reference, probed)
        passed = same and difference <= MAX_PROBABILITY_DIFFERENCE
        figures = {"max_probability_difference": _rounded(difference, math.ceil)}
        labels = "same top labels" if same else "a different top label"
        verdict = f"{labels}, probabilities within {difference:.6f}"
    if passed:
        reason = f"{candidate} matched float32 on the probe ({verdict})"
        log.info("%s: %s", task.task_name, reason)
        return task, Precision(chosen=candidate, reason=reason, **figures)
    reason = f"{candidate} differed from float32 on the probe ({verdict}); reloaded in float32"
    log.info("%s: %s", task.task_name, reason)
    task.release()
    return reload(), Precision(chosen="float32", reason=reason, **figures)


def _rounded(value: float, direction: Callable[[float], int]) -> float:
    """Six decimals, rounded in ``direction``; NaN (a float16 overflow) stays NaN."""
    return direction(value * 1e6) / 1e6 if math.isfinite(value) else value


def min_cosine(reference: Any, probed: Any) -> float:
    """The smallest cosine between matching rows of two [n, d] numpy arrays."""
    import numpy as np

    a = reference.astype(np.float64).reshape(len(reference), -1)
    b = probed.astype(np.float64).reshape(len(probed), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    # Two zero rows agree; a zero row against a non-zero one does not.
    cosines = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0), 0.0)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0)
    cosines = np.where(both_zero, 1.0, cosines)
    return float(cosines.min()) if len(cosines) else 1.0


def compare_probabilities(reference: Any, probed: Any) -> tuple[bool, float]:
    """(every row has the same top label, the largest difference of a probability) of two [n, labels]
    numpy arrays."""
    import numpy as np

    if reference.size == 0:
        return True, 0.0
    same = bool((reference.argmax(axis=-1) == probed.argmax(axis=-1)).all())
    return same, float(np.abs(reference.astype(np.float64) - probed.astype(np.float64)).max())
