"""Fixtures for the image generation tests: tiny pipelines built once per session, and one worker per
module (the shared ``worker`` and ``model_dir`` fixtures of tests/models)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.models.diffusion import pipelines

pytest.importorskip("diffusers")


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``pipeline_dir(name)``: the folder of the tiny pipeline ``name`` ("text-to-image" or
    "inpainting"), built on first use."""
    root = tmp_path_factory.mktemp("tiny-pipelines")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            import torch

            torch.manual_seed(0)
            folder = root / name
            {"text-to-image": pipelines.text_to_image, "inpainting": pipelines.inpainting}[name](folder)
            built[name] = folder
        return built[name]

    return get


@pytest.fixture(scope="module")
def load_pipeline(worker: Any, pipeline_dir: Callable[[str], Path]) -> Callable[..., dict[str, Any]]:
    """``load_pipeline(name, task=None)``: model/load a tiny pipeline by path; cached per module."""
    loaded: dict[tuple[str, str | None], dict[str, Any]] = {}

    def do_load(name: str, task: str | None = None) -> dict[str, Any]:
        if (name, task) not in loaded:
            request: dict[str, Any] = {"model": str(pipeline_dir(name))}
            if task is not None:
                request["task"] = task
            loaded[(name, task)] = worker.call("model/load", request, timeout=300)
        return loaded[(name, task)]

    return do_load
