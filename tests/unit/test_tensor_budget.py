"""worker.tensors.budget: the default --max-tensor-bytes is half the smallest memory limit that
applies (physical memory, RLIMIT_AS, the cgroup's memory.max), read without allocating anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.tensors import budget


def test_the_default_is_half_the_smallest_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "physical_memory_bytes", lambda: 16 << 30)
    monkeypatch.setattr(budget, "address_space_limit_bytes", lambda: 3 << 30)
    monkeypatch.setattr(budget, "cgroup_limit_bytes", lambda: 8 << 30)
    assert budget.usable_memory_bytes() == 3 << 30
    assert budget.default_budget_bytes() == 3 << 29
    assert budget.tensor_budget_bytes(None) == 3 << 29
    assert budget.tensor_budget_bytes(1000) == 1000


def test_without_any_limit_known_the_fallback_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("physical_memory_bytes", "address_space_limit_bytes", "cgroup_limit_bytes"):
        monkeypatch.setattr(budget, name, lambda: None)
    assert budget.default_budget_bytes() == budget.FALLBACK_BUDGET_BYTES


def test_cgroup_files_v2_v1_and_unlimited(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    assert budget.cgroup_limit_bytes((v2, v1)) is None  # neither exists
    v1.write_text("2147483648\n")
    assert budget.cgroup_limit_bytes((v2, v1)) == 2 << 30
    v1.write_text("9223372036854771712\n")  # v1's "no limit"
    assert budget.cgroup_limit_bytes((v2, v1)) is None
    v2.write_text("max\n")
    assert budget.cgroup_limit_bytes((v2, v1)) is None
    v2.write_text("1073741824\n")
    assert budget.cgroup_limit_bytes((v2, v1)) == 1 << 30
    v2.write_text("garbage\n")
    v1.write_text("4096\n")
    assert budget.cgroup_limit_bytes((v2, v1)) == 4096


def test_physical_memory_is_known_here() -> None:
    physical = budget.physical_memory_bytes()
    assert physical is not None and physical > 0
    usable = budget.usable_memory_bytes()
    assert usable is not None and usable <= physical


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS as Linux applies it")
def test_an_address_space_limit_is_read_in_the_process_it_applies_to() -> None:
    cap = 3 << 30
    code = (
        "import resource; "
        f"resource.setrlimit(resource.RLIMIT_AS, ({cap}, resource.getrlimit(resource.RLIMIT_AS)[1])); "
        "from worker.tensors import budget; "
        "print(budget.address_space_limit_bytes(), budget.default_budget_bytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    limit, default = map(int, out.stdout.split())
    assert limit == cap
    assert default <= cap // 2
