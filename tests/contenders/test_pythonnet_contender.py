"""The pythonnet contender of bench/run.py still builds and measures what its rows claim: a .NET (Mono)
process embedding this CPython answers no-op calls, turns an ordinary Python error into a catchable
exception, and dies with a native crash in Python code. A few seconds; the rates are bench/'s business."""

from __future__ import annotations

import pytest

from bench.suite import pythonnet

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exe():
    built, reason = pythonnet.build()
    assert built is not None, reason
    return built


def test_no_op_calls_report_ordered_percentiles(exe):
    p50, p99 = pythonnet.ping_round(exe, 500)
    assert 0 < p50 <= p99 < 0.1


def test_an_ordinary_error_is_caught_but_a_native_crash_takes_the_dotnet_process_down(exe):
    seen = pythonnet.faults(exe)
    assert seen["python_exception"] == "caught as PythonException"
    assert seen["native_crash"] == "calling", "the crashing call never returned"
    assert seen["dotnet_process_survived"] is False
    assert seen["exit_code"] != 0


@pytest.mark.models
def test_the_embedded_model_gives_the_in_process_vectors_from_every_kind_of_call(exe):
    import numpy as np

    from bench.baselines.inprocess import MeanPoolEmbedder

    sentences = ["A cat sleeps in the sun.", "Markets fell on Tuesday.", "Rain is expected tonight."]
    model = pythonnet.EmbeddedModel(exe, sentences, threads=1)
    try:
        vector = np.asarray(model.first_vector())
        for kind in ("sequential", "batch32", "concurrent64"):
            assert model.rate(kind, len(sentences)) > 0
    finally:
        model.close()
    reference = MeanPoolEmbedder(1).embed(sentences[:1])[0].numpy()
    assert vector.shape == reference.shape
    assert float(vector @ reference) == pytest.approx(1.0, abs=1e-4)
