"""``hf-worker doctor`` in the full test environment (the lean install's report is in test_wheel.py)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker import PROTOCOL_VERSION, __version__, doctor


def _doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OMP_", "MKL_", "TRANSFORMERS_"))}
    return subprocess.run(
        [sys.executable, "-m", "worker", "doctor", *args],
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
def test_doctor_reports_torch_the_cache_offline_mode_threads_and_the_bundled_model(tmp_path: Path) -> None:
    (tmp_path / "hub" / "models--org--tiny").mkdir(parents=True)
    done = _doctor({"HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    report = json.loads(lines[0])

    assert report["hf_worker"] == {
        "version": __version__,
        "protocol": PROTOCOL_VERSION,
        "installed_version": importlib.metadata.version("hf-worker"),
        "location": str(Path(doctor.__file__).parent),
    }
    assert report["python"]["executable"] == sys.executable
    assert report["packages"]["torch"] == importlib.metadata.version("torch")
    assert report["packages"]["msgspec"] == importlib.metadata.version("msgspec")
    assert report["extras"]["models"] is True

    import torch

    torch_report = report["torch"]
    assert torch_report["version"] == torch.__version__
    assert torch_report["build"] == (f"cuda {torch.version.cuda}" if torch.version.cuda else "cpu")
    assert torch_report["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert torch_report["native_bf16"] == bool(torch_report["amx"] or torch_report["avx512_bf16"])
    assert torch_report["intra_op_threads"] == 1  # OMP_NUM_THREADS reached torch
    assert torch_report["inter_op_threads"] == 1  # as the worker sets it
    assert len(report["cuda_devices"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if os.path.isfile("/proc/cpuinfo"):
        assert report["cpu"]["model"] and set(report["cpu"]["flags"]) == set(doctor.CPU_FLAGS)

    assert report["huggingface"] == {
        "home": str(tmp_path),
        "hub_cache": str(tmp_path / "hub"),
        "hub_cache_exists": True,
        "cached_models": 1,
        "offline": True,
        "token_set": False,
    }
    assert report["threads"] == {"OMP_NUM_THREADS": "1"}  # as given, before the worker's defaults
    assert report["compute"] == {
        "threads": 1,
        "threads_from": "OMP_NUM_THREADS",
        "interop_threads": 1,
        "omp_wait_policy": "PASSIVE",
        "omp_wait_policy_from": "worker",
        "tokenizers_parallelism": "false",
        "tokenizers_parallelism_from": "worker",
    }
    bundled = report["bundled_model"]
    assert bundled["present"] is True and Path(bundled["path"], "config.json").is_file()
    assert report["problems"] == []


@pytest.mark.e2e
def test_doctor_indents_on_request() -> None:
    done = _doctor({}, "--indent", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('{\n  "hf_worker": {')
    assert json.loads(done.stdout)["hf_worker"]["version"] == __version__


@pytest.mark.e2e
def test_a_failing_probe_is_reported_and_a_library_printing_cannot_spoil_the_report() -> None:
    # In a process of its own: the doctor command sets threads up as a worker's, which no test process should.
    script = (
        "import os, sys\n"
        "import worker.doctor as doctor\n"
        "def noisy_and_broken(torch):\n"
        '    os.write(1, b"a driver\'s banner\\n")\n'
        "    raise RuntimeError('CUDA driver initialization failed')\n"
        "doctor._cuda_devices = noisy_and_broken\n"
        "sys.exit(doctor.main([]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    report = json.loads(lines[0])
    assert report["cuda_devices"] == []
    assert report["problems"] == ["cuda: RuntimeError: CUDA driver initialization failed"]
    assert "a driver's banner" in done.stderr


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"XDG_CACHE_HOME": "/srv/xdg"},
        {"HF_HOME": "/srv/hf"},
        {"HF_HOME": "/srv/hf", "HF_HUB_CACHE": "/srv/cache"},
        {"HUGGINGFACE_HUB_CACHE": "/srv/legacy"},
    ],
)
def test_without_huggingface_hub_the_cache_folders_are_the_ones_it_would_use(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lean install has no huggingface_hub: doctor's own rules must give what huggingface_hub would.
    variables = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")
    clean = {k: v for k, v in os.environ.items() if k not in variables}
    hub_says = subprocess.run(
        [
            sys.executable,
            "-c",
            "from huggingface_hub import constants as c; print(c.HF_HOME); print(c.HF_HUB_CACHE)",
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert hub_says.returncode == 0, hub_says.stderr
    for variable in variables:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    assert doctor._default_hub_folders() == tuple(hub_says.stdout.splitlines())
