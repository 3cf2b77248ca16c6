"""The ways a person or a host starts the worker: the console script, python -m, a shell pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.wire import ROOT, VENV_BIN, Wire, WorkerProcess

pytestmark = pytest.mark.e2e


def test_console_script_serves_like_python_dash_m() -> None:
    with WorkerProcess(Wire("stdio", "length", "msgpack"), command=[str(VENV_BIN / "hf-worker")]) as w:
        assert w.ready["params"]["encoding"] == "msgpack"
        assert w.call("worker/ping", {"via": "hf-worker"})["result"] == {"via": "hf-worker"}
        w.close_input()
        assert w.wait_exit() == 0


def test_readme_shell_recipe_prints_ready_then_the_response_one_json_per_line() -> None:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    request = '{"jsonrpc":"2.0","id":1,"method":"worker/ping","params":{"hi":1}}'
    recipe = f"printf '%s\\n' '{request}' | hf-worker --framing ndjson"
    done = subprocess.run(["sh", "-c", recipe], env=env, cwd=ROOT, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().split("\n")
    assert lines[-1] == ""  # every line, the last included, ends with a newline
    ready, response = (json.loads(line) for line in lines[:-1])
    assert ready["method"] == "worker/ready" and ready["params"]["framing"] == "ndjson"
    assert response == {"jsonrpc": "2.0", "id": 1, "result": {"hi": 1}}
    # The logs went to stderr, as JSON lines.
    assert all(json.loads(line)["level"] for line in done.stderr.decode().splitlines())


def test_ndjson_with_msgpack_is_refused_at_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--framing", "ndjson", "--encoding", "msgpack"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert b"ndjson" in done.stderr


def _process_group(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[2])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/stat")
@pytest.mark.parametrize("lead", [True, False], ids=["with-process-group", "without"])
def test_process_group_makes_the_worker_lead_a_group_of_its_own(lead: bool) -> None:
    args = ["--process-group"] if lead else []
    with WorkerProcess(Wire("stdio", "length", "msgpack"), *args) as w:
        pid = w.ready["params"]["pid"]
        # By worker/ready the group is made: a host may kill the group the moment it has the handshake.
        if lead:
            assert _process_group(pid) == pid
        else:
            assert _process_group(pid) == _process_group(os.getpid()) != pid
        w.close_input()
        assert w.wait_exit() == 0
