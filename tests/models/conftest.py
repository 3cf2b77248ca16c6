"""Fixtures for the model tests: tiny models built once per session, real media, and one real
worker process per test module (started with ``worker.client.WorkerClient``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.models import builders
from worker.client import WorkerClient

pytestmark = pytest.mark.models


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``model_dir(name)``: the folder of the tiny model ``name`` (see builders.BUILDERS), built on
    first use and shared by the whole session."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("tiny-models")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            import torch

            torch.manual_seed(0)  # the same random weights every run: outputs are reproducible
            folder = root / name
            builders.BUILDERS[name](folder)
            built[name] = folder
        return built[name]

    return get


@pytest.fixture(scope="session")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty HuggingFace home, so that no test depends on (or fills) the machine's cache."""
    return tmp_path_factory.mktemp("hf-home")


@contextmanager
def running_worker(log_dir: Path, hf_home: Path, *args: str, **env: str) -> Iterator[WorkerClient]:
    """A real worker process (log in ``log_dir``), offline, with an empty HuggingFace home."""
    environment = {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_TOKEN": "", **env}
    with open(log_dir / "worker.log", "ab") as log:
        threads = [] if "--threads" in args else ["--threads", str(min(2, os.cpu_count() or 1))]
        # The model tests compare answers with float32 references on any machine; dtype "auto"'s
        # bfloat16 branch has its own tests (test_precision.py), which name --native-bf16 themselves.
        precision = [] if "--native-bf16" in args else ["--native-bf16", "no"]
        client = WorkerClient([*threads, *precision, *args], env=environment, stderr=log)
        try:
            yield client
        finally:
            client.close(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, hf_home: Path) -> Iterator[WorkerClient]:
    """One real worker process for the whole test module."""
    with running_worker(tmp_path_factory.mktemp("worker-log"), hf_home) as client:
        yield client


@pytest.fixture(scope="module")
def load(worker: WorkerClient, model_dir: Callable[[str], Path]) -> Callable[..., dict[str, Any]]:
    """``load(name, task=None, **params)``: model/load a tiny model by path; cached per module."""
    loaded: dict[tuple[str, str | None], dict[str, Any]] = {}

    def do_load(name: str, task: str | None = None, **params: Any) -> dict[str, Any]:
        key = (name, task)
        if key not in loaded or params:
            request = {"model": str(model_dir(name)), **params}
            if task is not None:
                request["task"] = task
            result = worker.call("model/load", request, timeout=120)
            if params:
                return result
            loaded[key] = result
        return loaded[key]

    return do_load
