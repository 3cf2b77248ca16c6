"""A stock JSON-RPC client, vscode-jsonrpc, talks to the worker over LSP framing with no adapter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.e2e
def test_vscode_jsonrpc_client_speaks_to_the_worker() -> None:
    node = shutil.which("node")
    assert node, "node is required for the interop test (Debian: nodejs)"
    assert (HERE / "node_modules" / "vscode-jsonrpc").is_dir(), (
        "run scripts/setup.sh (npm ci in tests/interop)"
    )
    done = subprocess.run(
        [node, str(HERE / "vscode_client.js"), sys.executable],
        cwd=HERE.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), f"the client printed no summary; stderr: {done.stderr}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ready"]["protocol"] == 1
    assert summary["ready"]["framing"] == "lsp"
    assert summary["ping"] == {"hello": "vscode"}
    assert summary["errorCode"] == -32601
    assert [p["fraction"] for p in summary["progress"]] == [0.5, 1]
    assert summary["cancelledCode"] == -32800
    assert summary["exitCode"] == 0
