"""The wheel installed alone: `pip install hf-worker` gives a worker that starts and serves the lean core.

A fresh virtual environment in a temporary folder gets the wheel and nothing else but what the wheel asks
for (from the configured package index: msgspec and numpy). The wheel is $HF_WORKER_WHEEL when set
(scripts/test.sh builds it for CI, so the tests run the very artifact CI built), else built here by
scripts/build_wheel.sh. The worker is started through the environment's ``hf-worker`` script, whose
sys.path does not hold the source tree, so the installed copy serves (doctor's ``location`` proves it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.wire import ROOT, Wire, WorkerProcess, error_code
from worker import PROTOCOL_VERSION, __version__

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("HF_WORKER_WHEEL")
    if given:
        return Path(given)
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_wheel.sh"), str(tmp_path_factory.mktemp("dist"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    return Path(built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def lean(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding only the wheel and its dependencies; its folder."""
    venv = tmp_path_factory.mktemp("lean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # The test environment's pip installs into the new one: no pip of its own to bootstrap (seconds saved).
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    return venv


def _run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run from a folder without the source tree, with none of the test environment's paths or thread settings.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("OMP_", "KMP_", "TOKENIZERS_"))
    }
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=venv,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wheel_carries_the_one_version(wheel: Path) -> None:
    assert wheel.name.startswith(f"hf_worker-{__version__}-py3-none-any")


def test_the_lean_core_is_hf_worker_msgspec_and_numpy(lean: Path) -> None:
    names = _run(
        lean,
        "python",
        "-c",
        "import importlib.metadata as m, json; print(json.dumps(sorted(d.metadata['Name'].lower() "
        "for d in m.distributions())))",
    )
    assert names.returncode == 0, names.stderr
    assert json.loads(names.stdout) == ["hf-worker", "msgspec", "numpy"]


def test_version_names_the_package_and_protocol_versions(lean: Path) -> None:
    done = _run(lean, "hf-worker", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"hf-worker {__version__} (protocol {PROTOCOL_VERSION})"


def test_doctor_describes_a_lean_install_with_nulls(lean: Path) -> None:
    done = _run(lean, "hf-worker", "doctor")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    report = json.loads(lines[0])
    assert report["hf_worker"]["version"] == report["hf_worker"]["installed_version"] == __version__
    assert report["hf_worker"]["protocol"] == PROTOCOL_VERSION
    assert report["hf_worker"]["location"].startswith(str(lean))  # the installed copy, not the tree
    assert report["python"]["venv"] == str(lean)
    assert report["packages"]["msgspec"] and report["packages"]["numpy"]
    assert report["packages"]["torch"] is None and report["packages"]["transformers"] is None
    assert report["extras"] == {"models": False, "images": False, "onnx": False}
    assert report["torch"] is None and report["cuda_devices"] == []
    assert report["bundled_model"]["present"] is False and report["bundled_model"]["path"] is None
    assert report["compute"]["omp_wait_policy"] == "PASSIVE"  # the worker's thread policy, torch or not
    assert report["problems"] == []


def test_the_installed_worker_serves_the_core_and_names_the_extra_it_lacks(lean: Path) -> None:
    with WorkerProcess(Wire("stdio", "length", "msgpack"), command=[str(lean / "bin" / "hf-worker")]) as w:
        ready: Any = w.ready["params"]
        assert (ready["protocol"], ready["version"]) == (PROTOCOL_VERSION, __version__)
        assert w.call("worker/ping", {"hi": 1})["result"] == {"hi": 1}

        values = np.arange(6, dtype="<f4")
        put = w.call("tensor/put", {"data": values.tobytes(), "dtype": "float32", "shape": [2, 3]})["result"]
        got = w.call("tensor/get", {"handle": put["handle"]})["result"]
        assert got["shape"] == [2, 3] and got["data"] == values.tobytes()

        # Without the models extra, a model method says what to install, and the worker serves on.
        load = w.call("model/load", {"model": "sentence-transformers/all-MiniLM-L6-v2"})
        assert error_code(load) == -32009, load
        assert "pip install 'hf-worker[models]'" in load["error"]["message"]
        assert load["error"]["data"]["extra"] == "models"
        assert w.call("worker/ping")["result"] is None
        assert w.protocol_errors == []
