"""How many CPU threads the worker computes with, and how idle ones wait: decided once at start-up,
before torch is imported, and reported by ``worker/info``.

torch's OpenMP pool, MKL and the tokenizers' Rayon pool read their settings from the environment when
they start, so ``apply`` writes them into ``os.environ`` before anything imports torch (``worker.cli``
calls it first thing). It never overrides what the operator set in the environment, except that
``--threads`` (the command line, more specific) wins over ``OMP_NUM_THREADS``.

Why these defaults: a sidecar shares its cores with the app that started it. OpenMP's threads, left to
spin while they wait for a sibling that the scheduler has parked behind the app's busy thread, made one
busy core cost torch most of its throughput (issue 11: 2 threads, 1 core busy, 35 sentences/s against
278 with 1 thread). Idle threads therefore sleep (``OMP_WAIT_POLICY=PASSIVE``; ``KMP_BLOCKTIME=0`` for an
Intel OpenMP build), ONNX Runtime's pool does not spin either (``spinning_allowed``), and tokenizers
encode a batch on the calling thread (``TOKENIZERS_PARALLELISM=false``): tokenizing is a sliver of a
forward pass, and a second pool of threads only competes with the first. torch's inter-op pool gets one
thread: the worker never forks graph work, the dynamic batcher gives each forward pass the whole batch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from types import ModuleType
from typing import Literal

import msgspec

from worker.config import Config

WAIT_POLICY = "PASSIVE"
INTEROP_THREADS = 1

ThreadsFrom = Literal["--threads", "OMP_NUM_THREADS", "torch default"]
SetBy = Literal["worker", "environment"]


class ComputeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What ``worker/info`` reports under ``compute``."""

    # Intra-op threads of torch (and of ONNX Runtime sessions); null while torch's own default is not
    # known yet (torch not imported and neither --threads nor OMP_NUM_THREADS said).
    threads: int | None
    threads_from: ThreadsFrom
    interop_threads: int | None
    omp_wait_policy: str
    omp_wait_policy_from: SetBy
    tokenizers_parallelism: str
    tokenizers_parallelism_from: SetBy


class _Sources(msgspec.Struct, frozen=True, kw_only=True):
    threads: ThreadsFrom
    omp_wait_policy: SetBy
    tokenizers_parallelism: SetBy


_sources: _Sources | None = None


def _env_threads(environ: Mapping[str, str]) -> int | None:
    # OpenMP also takes a list ("4,2") for nested levels: the first is the one torch's pool uses.
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isascii() and first.isdigit() and int(first) > 0 else None


def apply(config: Config, environ: MutableMapping[str, str] | None = None) -> None:
    """Write the thread settings into the environment: call before torch is imported."""
    global _sources
    env = os.environ if environ is None else environ
    if config.threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(config.threads)
    threads_from: ThreadsFrom = (
        "--threads"
        if config.threads is not None
        else "OMP_NUM_THREADS"
        if _env_threads(env) is not None
        else "torch default"
    )
    wait_from: SetBy = "environment" if "OMP_WAIT_POLICY" in env else "worker"
    if wait_from == "worker":
        env["OMP_WAIT_POLICY"] = WAIT_POLICY
        # Intel's OpenMP (not the GNU one torch's wheels ship) waits KMP_BLOCKTIME ms before sleeping;
        # an operator who chose a wait policy chose this too.
        env.setdefault("KMP_BLOCKTIME", "0")
    tokenizers_from: SetBy = "environment" if "TOKENIZERS_PARALLELISM" in env else "worker"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    _sources = _Sources(
        threads=threads_from, omp_wait_policy=wait_from, tokenizers_parallelism=tokenizers_from
    )


def set_up_torch(torch: ModuleType, config: Config | None) -> None:
    """Called once, right after torch is imported (``worker.models.runtime``)."""
    threads = config.threads if config is not None and config.threads else None
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(INTEROP_THREADS)
    except RuntimeError:
        # Only possible before any inter-op work: something ran torch before the worker set it up.
        pass


def spinning_allowed() -> bool:
    """Whether ONNX Runtime's idle intra-op threads may spin: only when the operator asked OpenMP for it."""
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "ACTIVE"


def settings() -> ComputeSettings:
    """The settings in force, read from the environment torch started with (or will start with) and,
    once torch is imported, from torch itself. Never imports torch."""
    env = os.environ
    # A worker started without worker.cli (in-process tests) has only its environment to go by.
    sources = _sources or _Sources(
        threads="OMP_NUM_THREADS" if _env_threads(env) is not None else "torch default",
        omp_wait_policy="environment",
        tokenizers_parallelism="environment",
    )
    threads, interop = _env_threads(env), None
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        threads, interop = torch.get_num_threads(), torch.get_num_interop_threads()
    return ComputeSettings(
        threads=threads,
        threads_from=sources.threads,
        interop_threads=interop,
        omp_wait_policy=env.get("OMP_WAIT_POLICY", "unset"),
        omp_wait_policy_from=sources.omp_wait_policy,
        tokenizers_parallelism=env.get("TOKENIZERS_PARALLELISM", "unset"),
        tokenizers_parallelism_from=sources.tokenizers_parallelism,
    )
