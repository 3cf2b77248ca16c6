"""worker.models.threads.apply: what it writes into the environment before torch is imported, and
what it leaves alone because the operator set it."""

from __future__ import annotations

import pytest

from worker.config import Config
from worker.models import threads


@pytest.fixture(autouse=True)
def _forget_what_apply_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    # apply() records where each setting came from for worker/info; keep that out of other tests.
    monkeypatch.setattr(threads, "_sources", None)


def test_idle_threads_sleep_and_tokenizers_stay_on_the_calling_thread_by_default() -> None:
    env: dict[str, str] = {}
    threads.apply(Config(), env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "TOKENIZERS_PARALLELISM": "false"}


def test_an_operators_wait_policy_and_tokenizers_setting_are_kept() -> None:
    env = {"OMP_WAIT_POLICY": "ACTIVE", "TOKENIZERS_PARALLELISM": "true"}
    threads.apply(Config(), env)
    # KMP_BLOCKTIME is part of the wait policy the operator chose: not added behind their back.
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "TOKENIZERS_PARALLELISM": "true"}


def test_an_operators_blocktime_is_kept() -> None:
    env = {"KMP_BLOCKTIME": "200"}
    threads.apply(Config(), env)
    assert env["KMP_BLOCKTIME"] == "200" and env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_threads_sets_openmp_and_mkl_over_the_environment() -> None:
    env = {"OMP_NUM_THREADS": "8"}
    threads.apply(Config(threads=3), env)
    assert env["OMP_NUM_THREADS"] == "3" and env["MKL_NUM_THREADS"] == "3"


def test_without_threads_the_environments_count_is_left_alone() -> None:
    env = {"OMP_NUM_THREADS": "4,2"}
    threads.apply(Config(), env)
    assert env["OMP_NUM_THREADS"] == "4,2" and "MKL_NUM_THREADS" not in env


def test_the_report_says_where_each_setting_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME"):
        # setenv first, so that monkeypatch removes again what apply() writes into os.environ.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    threads.apply(Config(threads=2))
    report = threads.settings()
    assert (report.threads_from, report.omp_wait_policy, report.omp_wait_policy_from) == (
        "--threads",
        "PASSIVE",
        "worker",
    )
    assert (report.tokenizers_parallelism, report.tokenizers_parallelism_from) == ("true", "environment")
    assert not threads.spinning_allowed()
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    assert threads.spinning_allowed()


def test_onnx_runtime_sessions_spin_only_when_the_operator_asked_openmp_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker.models.onnx.session import wait_policy

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert wait_policy() == {"session.intra_op.allow_spinning": "0"}
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert wait_policy() == {"session.intra_op.allow_spinning": "1"}
