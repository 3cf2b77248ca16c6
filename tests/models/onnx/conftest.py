"""Fixtures for the ONNX Runtime backend and model/export: a worker whose export cache is a folder of
this test session's own, and helpers to compare answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models.conftest import running_worker
from worker.client import WorkerClient

pytestmark = pytest.mark.models


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export cache every worker of these tests shares (as restarted workers on one machine do)."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, hf_home: Path, onnx_cache: Path
) -> Iterator[WorkerClient]:
    with running_worker(
        tmp_path_factory.mktemp("onnx-log"), hf_home, "--cache-dir", str(onnx_cache)
    ) as client:
        yield client


def load(worker: WorkerClient, folder: Path, **params: Any) -> tuple[dict[str, Any], list[str]]:
    """model/load by path: (the result, the stages it reported)."""
    stages: list[str] = []
    result = worker.call(
        "model/load",
        {"model": str(folder), **params},
        timeout=300,
        on_progress=lambda value: stages.append(value["stage"]),
    )
    return result, stages


def run(worker: WorkerClient, handle: str, inputs: Any, **parameters: Any) -> Any:
    return worker.call(
        "model/run", {"handle": handle, "inputs": inputs, "parameters": parameters}, timeout=120
    )


def assert_close(expected: Any, actual: Any, tolerance: float = 1e-4, where: str = "$") -> None:
    """The same structure, strings and integers; floats within ``tolerance``."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), where
        for key in expected:
            assert_close(expected[key], actual[key], tolerance, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), where
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_close(e, a, tolerance, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert isinstance(actual, (int, float)) and abs(expected - actual) <= tolerance, (
            where,
            expected,
            actual,
        )
    else:
        assert expected == actual, (where, expected, actual)


def cosine(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
