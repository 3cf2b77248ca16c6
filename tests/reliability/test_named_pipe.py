"""Named pipe, worker side: the worker connects only to a socket of its own user, and every failure exits 2.

Each refusal is checked three ways: exit code 2, exactly one logged error that says why (and no
traceback), and nothing at the other end ever received a connection or a byte. The handshake secret
(HF_WORKER_TOKEN) is echoed in worker/ready on both transports and kept from child processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.wire import ROOT, Wire, WorkerProcess
from tests.reliability.capped import DEFAULT_CAP_BYTES, capped_command, needs_prlimit
from worker.runtime.ready import TOKEN_VARIABLE, take_token
from worker.transport.pipe import PipeError, check_peer, peer_uid

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Unix sockets with SO_PEERCRED")

OTHER_UID = 54321
is_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a socket of another user needs root")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: a Unix socket path holds at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="hfp"))
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def listener(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


def run_worker(pipe: str, timeout: float = 60.0) -> tuple[int, list[dict[str, object]], str]:
    """Start a capped worker with ``--pipe pipe``; its exit code, its JSON log lines and raw stderr."""
    proc = subprocess.run(
        [*capped_command(DEFAULT_CAP_BYTES), "--pipe", pipe],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=ROOT,
        timeout=timeout,
    )
    stderr = proc.stderr.decode(errors="replace")
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return proc.returncode, lines, stderr


def assert_refused(code: int, lines: list[dict[str, object]], stderr: str, reason: str) -> None:
    assert code == 2, stderr
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) == 1, stderr
    assert reason in str(errors[0]["msg"]), stderr
    assert "Traceback" not in stderr and "exc" not in errors[0], stderr


def assert_never_connected(server: socket.socket) -> None:
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.accept()


@needs_prlimit
def test_a_symlink_at_the_socket_path_is_refused_and_nothing_is_connected(short_dir: Path) -> None:
    real = short_dir / "real.sock"
    server = listener(real)
    (short_dir / "link").symlink_to(real)
    try:
        assert_refused(*run_worker(str(short_dir / "link")), "is a symbolic link")
        assert_never_connected(server)
    finally:
        server.close()


@needs_prlimit
def test_a_path_longer_than_a_socket_allows_exits_2() -> None:
    assert_refused(*run_worker("/tmp/" + "x" * 200), "longer than the 107 a socket allows")


@needs_prlimit
def test_a_socket_path_whose_parent_is_a_file_exits_2(short_dir: Path) -> None:
    (short_dir / "file").write_bytes(b"")
    assert_refused(*run_worker(str(short_dir / "file" / "sock")), "NotADirectoryError")


@needs_prlimit
def test_a_path_that_is_not_a_socket_exits_2(short_dir: Path) -> None:
    (short_dir / "plain").write_bytes(b"")
    assert_refused(*run_worker(str(short_dir / "plain")), "is not a socket")


@needs_prlimit
@is_root
def test_a_socket_owned_by_another_user_is_refused_and_nothing_is_connected(short_dir: Path) -> None:
    path = short_dir / "theirs.sock"
    server = listener(path)
    os.chown(path, OTHER_UID, -1)
    try:
        assert_refused(*run_worker(str(path)), f"belongs to uid {OTHER_UID}")
        assert_never_connected(server)
    finally:
        server.close()


@needs_prlimit
@is_root
def test_a_listener_of_another_user_behind_our_own_socket_file_is_refused(short_dir: Path) -> None:
    """The file passes every check; only the listener's credentials (SO_PEERCRED) tell it apart."""
    path = short_dir / "swapped.sock"
    # Bound as us (the file is ours), listening as another user: the kernel records the listener's
    # credentials at listen(), which is what SO_PEERCRED reports to whoever connects.
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])\n"
            "os.setuid(int(sys.argv[2])); s.listen(1)\n"
            "print('listening', flush=True)\n"
            "c, _ = s.accept(); c.settimeout(30)\n"
            "got = b''\n"
            "while True:\n"
            "    chunk = c.recv(65536)\n"
            "    if not chunk: break\n"
            "    got += chunk\n"
            "print('received', len(got), flush=True)\n",
            str(path),
            str(OTHER_UID),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline() == "listening\n"
        assert os.lstat(path).st_uid == os.geteuid()
        assert_refused(*run_worker(str(path)), f"it runs as uid {OTHER_UID}")
        # The worker connected (that is how it learns who listens) and sent nothing, not even worker/ready.
        assert other.stdout.readline() == "received 0\n"
    finally:
        other.kill()
        other.wait(10)
        if other.stdout is not None:
            other.stdout.close()


def test_peer_credentials_of_a_real_socket_pair_are_our_own() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_uid(a) == os.geteuid()
        check_peer(a)


def test_a_peer_of_another_uid_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        monkeypatch.setattr(os, "geteuid", lambda: OTHER_UID)
        with pytest.raises(PipeError, match=f"not as this worker's uid {OTHER_UID}"):
            check_peer(a)


# ---- the handshake secret -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["stdio", "pipe"])
def test_the_handshake_secret_is_echoed_in_worker_ready_and_never_logged(transport: str) -> None:
    secret = "one-time-7f3a9c"
    with WorkerProcess(Wire(transport, "length", "msgpack"), env={TOKEN_VARIABLE: secret}) as w:
        assert w.ready["params"]["token"] == secret
        assert w.call("worker/ping", {"x": 1})["result"] == {"x": 1}
        assert secret not in w.stderr_text()


@pytest.mark.parametrize("transport", ["stdio", "pipe"])
def test_without_a_secret_worker_ready_has_no_token(transport: str) -> None:
    assert TOKEN_VARIABLE not in os.environ
    with WorkerProcess(Wire(transport, "length", "msgpack")) as w:
        assert "token" not in w.ready["params"]


def test_the_secret_is_taken_out_of_the_environment_children_inherit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, "one-time-secret")
    assert take_token() == "one-time-secret"
    assert TOKEN_VARIABLE not in os.environ
    # A child started the way native code would (the C environment, not os.environ's copy) sees nothing.
    seen = subprocess.run(
        ["/bin/sh", "-c", f'printf %s "${{{TOKEN_VARIABLE}-absent}}"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert seen.stdout == "absent"
    assert take_token() is None
