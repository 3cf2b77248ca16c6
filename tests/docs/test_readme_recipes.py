"""README recipes are executed: every ```sh block preceded by ``<!-- recipe -->`` runs with the venv on PATH
and must succeed, printing JSON lines that include a response and nothing that breaks the framing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown_blocks import ROOT, Block, blocks

README = ROOT / "README.md"
RECIPES = [
    b
    for b in blocks(README)
    if b.kind in ("sh", "python") and b.preceding.rstrip().endswith("<!-- recipe -->")
]


def test_readme_has_recipes() -> None:
    assert len(RECIPES) >= 3


def test_readme_names_the_two_commands() -> None:
    commands = [b.body.strip() for b in blocks(README) if b.kind == "sh"]
    assert "bash scripts/setup.sh && .venv/bin/python examples/semantic_search.py" in commands
    assert "bash scripts/test.sh" in commands
    assert (ROOT / ".ci" / "run").read_text().count("bash scripts/test.sh") == 1


@pytest.mark.e2e
@pytest.mark.parametrize("recipe", [pytest.param(b, id=f"line{b.line}") for b in RECIPES])
def test_recipe_runs(recipe: Block) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    if recipe.kind == "python":
        # A Python recipe runs as written and prints what its last comment says it prints.
        done = subprocess.run(
            [sys.executable, "-c", recipe.body], cwd=ROOT, capture_output=True, timeout=300, text=True
        )
        assert done.returncode == 0, done.stderr
        promised = recipe.body.rstrip().rsplit("# ", 1)[1].split("...")[0]
        assert done.stdout.startswith(promised), (done.stdout, promised)
        return
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", recipe.body],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, "a recipe must print something"
    messages = [json.loads(line) for line in lines if line.startswith("{")]
    if any(line.startswith('{"jsonrpc"') for line in lines):
        assert all(m.get("jsonrpc") == "2.0" for m in messages)
        assert any("result" in m or "error" in m for m in messages)
