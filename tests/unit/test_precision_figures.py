"""The figures of dtype "auto"'s load-time check (worker.models.precision), without a model."""

from __future__ import annotations

import numpy as np

from worker.models.precision import compare_probabilities, min_cosine


def test_the_cosine_is_the_worst_row():
    reference = np.array([[1.0, 0.0], [0.0, 1.0]])
    probed = np.array([[1.0, 0.0], [0.6, 0.8]])
    assert min_cosine(reference, probed) == 0.8


def test_zero_rows_agree_only_with_zero_rows():
    assert min_cosine(np.zeros((1, 3)), np.zeros((1, 3))) == 1.0
    assert min_cosine(np.zeros((1, 3)), np.ones((1, 3))) == 0.0


def test_a_nan_vector_fails_the_cosine_check():
    # float16 overflow shows up as NaN: it must read as disagreement, never pass.
    with np.errstate(invalid="ignore"):
        assert not min_cosine(np.ones((1, 2)), np.array([[1.0, np.nan]])) >= 0.999


def test_probabilities_compare_top_labels_and_the_largest_difference():
    same, difference = compare_probabilities(
        np.array([[0.1, 0.9], [0.7, 0.3]]), np.array([[0.2, 0.8], [0.6, 0.4]])
    )
    assert same and abs(difference - 0.1) < 1e-12
    flipped, _ = compare_probabilities(np.array([[0.49, 0.51]]), np.array([[0.5, 0.5]]))
    assert not flipped


def test_native_bf16_is_a_start_option_that_defaults_to_asking_torch():
    from worker.cli import parse_config

    assert parse_config([]).native_bf16 == "auto"
    assert parse_config(["--native-bf16", "no"]).native_bf16 == "no"
