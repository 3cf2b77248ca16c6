"""worker.cli: arguments to a Config, refusing what cannot work; and start-up stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker import PROTOCOL_VERSION, __version__
from worker.cli import parse_config
from worker.config import DEFAULT_MAX_FRAME_BYTES, Config


def test_defaults() -> None:
    config = parse_config([])
    assert config == Config(
        framing="length",
        encoding="msgpack",
        pipe=None,
        max_frame_bytes=DEFAULT_MAX_FRAME_BYTES,
        max_inflight=256,
        shutdown_grace_seconds=10.0,
        parent_pid=None,
        debug=False,
        enable_test_methods=False,
        trust_remote_code=False,
        threads=None,
        log_level="info",
    )
    assert DEFAULT_MAX_FRAME_BYTES == 256 * 1024 * 1024
    assert config.transport == "stdio"


@pytest.mark.parametrize(
    ("argv", "encoding"),
    [
        (["--framing", "length"], "msgpack"),
        (["--framing", "lsp"], "json"),
        (["--framing", "ndjson"], "json"),
        (["--framing", "length", "--encoding", "json"], "json"),
        (["--framing", "lsp", "--encoding", "msgpack"], "msgpack"),
    ],
)
def test_the_encoding_defaults_per_framing(argv: list[str], encoding: str) -> None:
    assert parse_config(argv).encoding == encoding


def test_ndjson_with_msgpack_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_config(["--framing", "ndjson", "--encoding", "msgpack"])
    assert exited.value.code == 2
    assert "ndjson" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--framing", "xml"],
        ["--encoding", "cbor"],
        ["--max-frame-bytes", "0"],
        ["--max-frame-bytes", "-5"],
        ["--max-frame-bytes", "4095"],
        ["--max-frame-bytes", "4294967296"],
        ["--max-frame-bytes", "18446744073709551616"],
        ["--max-frame-bytes", "5_000"],
        ["--max-inflight", "65537"],
        ["--max-inflight", "99999999999999999999"],
        ["--max-input-bytes", "9223372036854775808"],
        ["--max-image-pixels", "５０００"],
        ["--shutdown-grace", "inf"],
        ["--shutdown-grace", "nan"],
        ["--shutdown-grace", "-1"],
        ["--shutdown-grace", "3601"],
        ["--hub-timeout", "0"],
        ["--max-tensor-bytes", "0"],
        ["--max-inflight", "0"],
        ["--max-inflight", "many"],
        ["--threads", "0"],
        ["--threads", "100000"],
        ["--parent-pid", "0"],
        ["--parent-pid", "-1"],
        ["--parent-pid", "99999999999"],
        ["--log-level", "loud"],
        ["--no-such-option"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_config(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().out == ""


def test_every_option_reaches_the_config(tmp_path: Path) -> None:
    config = parse_config(
        [
            "--framing", "lsp",
            "--encoding", "msgpack",
            "--pipe", "hostpipe",
            "--max-frame-bytes", "12345",
            "--max-inflight", "3",
            "--shutdown-grace", "0.5",
            "--parent-pid", "4242",
            "--debug",
            "--enable-test-methods",
            "--trust-remote-code",
            "--threads", "2",
            "--log-level", "warning",
            "--input-root", str(tmp_path),
            "--input-root", str(tmp_path / "."),
            "--max-input-bytes", "1000",
            "--max-image-pixels", "2000",
            "--max-request-input-bytes", "2500",
            "--max-tensor-bytes", "3000",
            "--hub-timeout", "2.5",
            "--process-group",
        ]
    )  # fmt: skip
    assert config == Config(
        framing="lsp",
        encoding="msgpack",
        pipe="hostpipe",
        max_frame_bytes=12345,
        max_inflight=3,
        shutdown_grace_seconds=0.5,
        parent_pid=4242,
        debug=True,
        enable_test_methods=True,
        trust_remote_code=True,
        threads=2,
        log_level="warning",
        input_roots=config.input_roots,
        max_input_bytes=1000,
        max_image_pixels=2000,
        max_request_input_bytes=2500,
        max_tensor_bytes=3000,
        hub_timeout_seconds=2.5,
        process_group=True,
    )
    assert [Path(root).resolve() for root in config.input_roots] == [tmp_path.resolve()] * 2
    assert config.transport == "pipe"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_config(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"hf-worker {__version__} (protocol {PROTOCOL_VERSION})"


def test_building_the_method_table_imports_no_model_stack() -> None:
    # worker/ready must go out before torch or transformers load: everything the worker imports up to
    # the handshake, every handler family included, has to keep them lazy. A fresh interpreter,
    # because this test process may have imported them already.
    probe = (
        "import sys\n"
        "from worker.cli import parse_config\n"
        "from worker.runtime.lifecycle import handler_families\n"
        "from worker.runtime.registry import merge\n"
        "methods = merge(handler_families(parse_config(['--enable-test-methods'])))\n"
        "assert 'worker/ping' in methods\n"
        "heavy = ('torch', 'transformers', 'librosa', 'PIL', 'soundfile', 'huggingface_hub')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
