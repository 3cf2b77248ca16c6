"""Does an exported graph answer as torch does? The task's probe (the one dtype "auto" uses) run by
torch float32 and by the session, compared as that check compares: vectors by cosine, classifiers by
their top label; both by the largest absolute difference.

A float32 graph that fails the precision check's thresholds is a broken export and is not kept; an
int8 graph is the client's choice, so its figures are reported whatever they are.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np

from worker.models.precision import MAX_PROBABILITY_DIFFERENCE, MIN_COSINE, compare_probabilities, min_cosine


class Check(msgspec.Struct, omit_defaults=True):
    """How the graph's probe outputs compare with torch float32's (null where not measured)."""

    # The largest absolute difference of a probe output (a vector component or a probability).
    max_abs_diff: float
    # The smallest cosine between matching probe vectors (embedding tasks).
    cosine: float | None = None
    # The share of probe rows whose top label is the same as torch's (classifiers).
    label_agreement: float | None = None


def compare(kind: str | None, reference: Any, probed: Any) -> Check:
    """``kind`` is the task's ``precision_check``: "vectors" or "probabilities"."""
    difference = float(np.abs(reference.astype(np.float64) - probed.astype(np.float64)).max(initial=0.0))
    # Rounded toward failing, so that a reported figure never looks better than the check found.
    diff = math.ceil(difference * 1e7) / 1e7 if math.isfinite(difference) else difference
    if kind == "vectors":
        cosine = min_cosine(reference, probed)
        return Check(max_abs_diff=diff, cosine=math.floor(cosine * 1e6) / 1e6)
    rows_a = reference.reshape(-1, reference.shape[-1]) if reference.size else reference
    rows_b = probed.reshape(-1, probed.shape[-1]) if probed.size else probed
    same = rows_a.argmax(axis=-1) == rows_b.argmax(axis=-1) if reference.size else np.ones(1, dtype=bool)
    return Check(max_abs_diff=diff, label_agreement=round(float(same.mean()), 6))


def acceptable(kind: str | None, reference: Any, probed: Any) -> tuple[bool, str]:
    """Whether a float32 graph matches torch well enough to be kept, and the verdict in words."""
    if kind == "vectors":
        cosine = min_cosine(reference, probed)
        return cosine >= MIN_COSINE, f"cosine {cosine:.6f} (at least {MIN_COSINE} needed)"
    same, difference = compare_probabilities(reference, probed)
    verdict = (
        f"{'the same' if same else 'a different'} top label, probabilities within {difference:.6f} "
        f"(the same label and {MAX_PROBABILITY_DIFFERENCE} needed)"
    )
    return same and difference <= MAX_PROBABILITY_DIFFERENCE, verdict
