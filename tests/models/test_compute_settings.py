"""A real worker sets its threads and wait policies before torch is imported and reports them in
worker/info (``compute``); an operator's own OMP_WAIT_POLICY is kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.models.conftest import running_worker
from worker.client import WorkerClient

pytestmark = pytest.mark.models

# Settings the worker chooses itself unless the environment has them; removed here so that the
# machine running the tests cannot decide the outcome.
_CHOSEN = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CHOSEN:
        monkeypatch.delenv(name, raising=False)


@contextmanager
def worker_without_threads_option(log_dir: Path, hf_home: Path, **env: str) -> Iterator[WorkerClient]:
    """running_worker always names --threads; this one leaves the count to the environment."""
    environment = {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_TOKEN": "", **env}
    with open(log_dir / "worker.log", "ab") as log:
        client = WorkerClient(["--native-bf16", "no"], env=environment, stderr=log)
        try:
            yield client
        finally:
            client.close(timeout=30)


@pytest.mark.usefixtures("bare_environment")
def test_worker_info_reports_the_threads_and_wait_policies_torch_runs_with(tmp_path, hf_home, model_dir):
    with running_worker(tmp_path, hf_home, "--threads", "1") as worker:
        before = worker.call("worker/info")
        assert before["torch_loaded"] is False
        assert before["compute"] == {
            "threads": 1,
            "threads_from": "--threads",
            "interop_threads": None,
            "omp_wait_policy": "PASSIVE",
            "omp_wait_policy_from": "worker",
            "tokenizers_parallelism": "false",
            "tokenizers_parallelism_from": "worker",
        }
        worker.call("model/load", {"model": str(model_dir("text-classification"))}, timeout=120)
        after = worker.call("worker/info")
        assert after["torch_loaded"] is True
        # Now read from torch itself: the pools it really has.
        assert after["compute"] == {**before["compute"], "threads": 1, "interop_threads": 1}


@pytest.mark.usefixtures("bare_environment")
def test_an_operators_wait_policy_and_thread_count_are_not_overridden(tmp_path, hf_home):
    environment = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "true"}
    # No --threads: the environment's OMP_NUM_THREADS is torch's count.
    # torch is not imported: what is reported is the environment torch will start with (the test above
    # shows torch then reports what it was given).
    with worker_without_threads_option(tmp_path, hf_home, **environment) as worker:
        compute = worker.call("worker/info")["compute"]
    assert compute == {
        "threads": 1,
        "threads_from": "OMP_NUM_THREADS",
        "interop_threads": None,
        "omp_wait_policy": "ACTIVE",
        "omp_wait_policy_from": "environment",
        "tokenizers_parallelism": "true",
        "tokenizers_parallelism_from": "environment",
    }
