"""Shared, generic fixtures for every test tier: where the repository is and which Python runs the worker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The interpreter running the tests is the venv's; the worker is started with the same one.
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def venv_python() -> Path:
    return Path(sys.executable)
