"""Inputs given by path, against a real worker under an address-space cap: a FIFO, a terminal, the
worker's own descriptors, a directory, a file over --max-input-bytes, paths outside --input-root,
and a 20 KB PNG that claims 13000 x 13000 pixels are each refused at once with a clear error, and
the worker keeps answering, reads its own requests intact and exits at end of input.

Two workers share the tiny image-classification model: one without confinement (what only-regular-
files and the byte and pixel bounds do on their own) and one with ``--input-root``.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.wire import Wire, WorkerProcess, error_code
from tests.reliability.capped import TORCH_CAP_BYTES, MiB, capped_worker, needs_prlimit

pytestmark = [pytest.mark.models, needs_prlimit]

WIRE = Wire("stdio", "length", "msgpack")
MAX_INPUT_BYTES = 200_000
INVALID_INPUT, FORBIDDEN, RESOURCE_EXHAUSTED = -32006, -32007, -32008
# Each refusal is immediate; this is only a guard (before the fix these never came at all).
ANSWER_SECONDS = 60.0


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG of zero pixels: about 20 KB for 13000 x 13000."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.models import media

    base = tmp_path_factory.mktemp("input-paths")
    root = base / "inputs"
    root.mkdir()
    media.picture().save(root / "shapes.png")  # type: ignore[attr-defined]
    media.picture().save(base / "outside.png")  # type: ignore[attr-defined]
    (root / "escape.png").symlink_to(base / "outside.png")
    (root / "big.png").write_bytes(os.urandom(MAX_INPUT_BYTES + 1))
    (root / "bomb.png").write_bytes(bomb_png(13_000, 13_000))
    (root / "folder.png").mkdir()
    os.mkfifo(root / "fifo.png")
    return {"base": base, "root": root}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from tests.models import builders

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("input-paths-model") / "vit"
    builders.image_classification(folder)
    return folder


def started(model_folder: Path, *args: str) -> tuple[WorkerProcess, str]:
    env = {"HF_HUB_OFFLINE": "1", "HF_TOKEN": ""}
    worker = capped_worker(WIRE, "--threads", "1", *args, cap_bytes=TORCH_CAP_BYTES, env=env)
    loaded = worker.call("model/load", {"model": str(model_folder)}, timeout=300)
    assert "result" in loaded, loaded
    return worker, loaded["result"]["handle"]


def finish(worker: WorkerProcess) -> None:
    """Whatever the tests sent, the worker still ends cleanly at end of input: no thread of it is
    stuck on a file."""
    try:
        worker.close_input()
        assert worker.wait_exit(60) == 0, worker.stderr_text()[-2000:]
        assert worker.protocol_errors == []
    finally:
        worker.close()


@pytest.fixture(scope="module")
def open_worker(model_folder: Path) -> Iterator[tuple[WorkerProcess, str]]:
    worker, handle = started(model_folder, "--max-input-bytes", str(MAX_INPUT_BYTES))
    yield worker, handle
    finish(worker)


@pytest.fixture(scope="module")
def confined_worker(model_folder: Path, files: dict[str, Path]) -> Iterator[tuple[WorkerProcess, str]]:
    worker, handle = started(model_folder, "--input-root", str(files["root"]))
    yield worker, handle
    finish(worker)


def run(worker: WorkerProcess, handle: str, path: str | Path) -> dict[str, Any]:
    return worker.call("model/run", {"handle": handle, "inputs": {"path": str(path)}}, timeout=ANSWER_SECONDS)


def refused(worker: WorkerProcess, handle: str, path: str | Path, code: int, *words: str) -> dict[str, Any]:
    answer = run(worker, handle, path)
    assert error_code(answer) == code, answer
    for word in words:
        assert word in answer["error"]["message"], answer
    ping = worker.call("worker/ping", {"after": str(path)}, timeout=ANSWER_SECONDS)
    assert ping["result"] == {"after": str(path)}
    return answer["error"]


def labels(answer: dict[str, Any]) -> list[str]:
    assert "result" in answer, answer
    return sorted(entry["label"] for entry in answer["result"])


def test_fifos_are_refused_at_once_and_leave_no_thread_stuck(open_worker, files):
    worker, handle = open_worker
    fifo = files["root"] / "fifo.png"
    # More than the worker has handler threads for: each used to block one forever.
    ids = [worker.request("model/run", {"handle": handle, "inputs": {"path": str(fifo)}}) for _ in range(12)]
    for id in ids:
        answer = worker.response(id, timeout=ANSWER_SECONDS)
        assert error_code(answer) == INVALID_INPUT and "FIFO" in answer["error"]["message"], answer
    assert worker.call("worker/ping", {"still": "serving"})["result"] == {"still": "serving"}
    # ... and at the end of the module the worker exits at end of input (see finish()).


def protocol_descriptors(worker: WorkerProcess) -> list[int]:
    """The worker's descriptors for the protocol pipes (it moves them off 0 and 1 at start), found
    from outside through /proc by the inodes of this side's pipes."""
    assert worker.proc.stdin is not None and worker.proc.stdout is not None
    pipes = {f"pipe:[{os.fstat(end.fileno()).st_ino}]" for end in (worker.proc.stdin, worker.proc.stdout)}
    found = []
    for name in os.listdir(f"/proc/{worker.proc.pid}/fd"):
        try:
            if os.readlink(f"/proc/{worker.proc.pid}/fd/{name}") in pipes:
                found.append(int(name))
        except OSError:
            continue
    return sorted(found)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux devices and /proc")
def test_devices_and_the_workers_own_descriptors_are_refused_and_no_request_byte_is_stolen(open_worker):
    worker, handle = open_worker
    for device in ("/dev/ptmx", "/dev/zero"):
        refused(worker, handle, device, INVALID_INPUT, "character device")
    own = protocol_descriptors(worker)
    assert len(own) >= 2, own  # the request pipe and the response pipe
    paths = [f"/proc/self/fd/{n}" for n in own]
    for path in paths:
        refused(worker, handle, path, INVALID_INPUT, "FIFO")
    # fd 0 and 1 as the worker left them (/dev/null, and stderr's pipe): refused too.
    refused(worker, handle, "/proc/self/fd/0", INVALID_INPUT, "character device")
    refused(worker, handle, "/proc/self/fd/1", INVALID_INPUT, "FIFO")
    # Requests sent right behind such paths arrive whole: nothing read the worker's request pipe.
    first = [worker.request("model/run", {"handle": handle, "inputs": {"path": path}}) for path in paths]
    second = worker.request("worker/ping", {"n": 2})
    third = worker.request("worker/ping", {"n": 3})
    for id in first:
        assert error_code(worker.response(id, timeout=ANSWER_SECONDS)) == INVALID_INPUT
    assert worker.response(second)["result"] == {"n": 2}
    assert worker.response(third)["result"] == {"n": 3}
    refused(worker, handle, "/proc/self/environ", FORBIDDEN, "/proc")


def test_a_directory_and_a_file_over_the_byte_limit_are_refused(open_worker, files):
    worker, handle = open_worker
    refused(worker, handle, files["root"] / "folder.png", INVALID_INPUT, "directory")
    error = refused(worker, handle, files["root"] / "big.png", RESOURCE_EXHAUSTED, "--max-input-bytes")
    assert error["data"]["size_bytes"] == MAX_INPUT_BYTES + 1
    assert error["data"]["max_input_bytes"] == MAX_INPUT_BYTES
    assert labels(run(worker, handle, files["root"] / "shapes.png")) == ["circle", "square"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads peak RSS from worker/info")
def test_a_20_kb_png_of_13000_by_13000_pixels_is_refused_without_being_decoded(open_worker, files):
    worker, handle = open_worker
    bomb = files["root"] / "bomb.png"
    assert bomb.stat().st_size < 40_000
    before = worker.call("worker/info")["result"]
    error = refused(worker, handle, bomb, RESOURCE_EXHAUSTED, "13000x13000", "--max-image-pixels")
    bound = {"width": 13_000, "height": 13_000, "pixels": 169_000_000, "max_image_pixels": 100_000_000}
    assert error["data"].items() >= bound.items(), error
    inline = worker.call("model/run", {"handle": handle, "inputs": {"bytes": bomb.read_bytes()}})
    assert error_code(inline) == RESOURCE_EXHAUSTED, inline
    after = worker.call("worker/info")["result"]
    # Decoded, it would take 169 MB as bits unpacked to bytes and 507 MB as RGB: the peak shows it.
    assert after["peak_rss_bytes"] < max(before["peak_rss_bytes"], before["rss_bytes"]) + 64 * MiB


def test_paths_outside_the_input_roots_are_forbidden(confined_worker, files):
    worker, handle = confined_worker
    root = files["root"]
    assert labels(run(worker, handle, root / "shapes.png")) == ["circle", "square"]
    for path in (
        files["base"] / "outside.png",  # a good image, outside
        root / "escape.png",  # a symlink inside pointing outside
        f"{root}/../outside.png",
        f"{root}/../../../../../../etc/passwd",
        "/proc/self/fd/0",
    ):
        refused(worker, handle, path, FORBIDDEN, "--input-root")
    # Inside the root the other rules still hold.
    refused(worker, handle, root / "fifo.png", INVALID_INPUT, "FIFO")
