"""Command line: parse arguments into a ``Config`` and run the worker.

This module must stay light: the ``worker/ready`` handshake is sent before torch or transformers
are imported, so nothing here (or in what it imports) may pull them in.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from worker import PROTOCOL_VERSION, __version__
from worker.config import (
    DEFAULT_HUB_TIMEOUT_SECONDS,
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_INFLIGHT,
    DEFAULT_MAX_INPUT_BYTES,
    DEFAULT_MAX_REQUEST_INPUT_BYTES,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    MAX_SHUTDOWN_GRACE_SECONDS,
    MIN_FRAME_BYTES,
    Config,
    Encoding,
)

# The length framing's prefix is 4 bytes: no frame can be longer. Below the minimum, not even
# worker/ready and a bounded error message fit a frame.
MAX_FRAME_BYTES = 2**32 - 1
# The batch bound follows --max-inflight, and a batch is counted up to this many elements.
MAX_INFLIGHT = 65536
# Sizes and counts beyond this are no limit at all, and MessagePack cannot carry them.
MAX_SIZE = 2**63 - 1
# No machine this runs on has more cores than this; a larger count only exhausts memory in stacks.
MAX_THREADS = 1024
# Process ids are positive and fit a C int (0 and -1 would name process groups to os.kill).
MAX_PID = 2**31 - 1


def _int_from(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: decimal ASCII digits (int() would also take "5_000" and other scripts'
    digits) making a number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        if not (text.isascii() and text.lstrip("+-").isdigit()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {text}")
        return int(text)

    return parse


_frame_bytes = _int_from(MIN_FRAME_BYTES, MAX_FRAME_BYTES)
_inflight = _int_from(1, MAX_INFLIGHT)
_size = _int_from(1, MAX_SIZE)
_pid = _int_from(1, MAX_PID)
_thread_count = _int_from(1, MAX_THREADS)


def _grace_seconds(text: str) -> float:
    value = float(text)
    # float() takes "inf" and "nan"; a grace must be a wait that ends.
    if not 0.0 <= value <= MAX_SHUTDOWN_GRACE_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {MAX_SHUTDOWN_GRACE_SECONDS:g} seconds, got {text}"
        )
    return value


def _timeout_seconds(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 3600.0:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600 seconds, got {text}")
    return value


def _input_root(text: str) -> str:
    # Resolved once, at start: a root given through a symlink contains its files' real paths.
    # A missing root is a typo that would refuse every path input, so it stops the start instead.
    real = os.path.realpath(text)
    if not os.path.isdir(real):
        raise argparse.ArgumentTypeError(f"must be an existing directory, got {text}")
    return real


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hf-worker",
        description="Serve HuggingFace models over JSON-RPC 2.0 on stdio or a named pipe. "
        "Stdout carries protocol frames only; logs go to stderr as JSON lines.",
        epilog="'hf-worker doctor' prints one JSON object describing this environment instead.",
    )
    p.add_argument(
        "--version", action="version", version=f"hf-worker {__version__} (protocol {PROTOCOL_VERSION})"
    )
    p.add_argument(
        "--framing",
        choices=["length", "lsp", "ndjson"],
        default="length",
        help="length: 4-byte big-endian length prefix (default); lsp: Content-Length headers; "
        "ndjson: one JSON message per line, for shells",
    )
    p.add_argument(
        "--encoding",
        choices=["msgpack", "json"],
        default=None,
        help="payload encoding; default msgpack with --framing length, json otherwise (ndjson is json only)",
    )
    p.add_argument(
        "--pipe",
        metavar="NAME",
        default=None,
        help="connect to the named pipe NAME created by the host (\\\\.\\pipe\\NAME on Windows, "
        "the Unix socket $TMPDIR/CoreFxPipe_NAME elsewhere, or NAME itself when it is an absolute path) "
        "instead of using stdin/stdout",
    )
    p.add_argument(
        "--max-frame-bytes",
        type=_frame_bytes,
        default=DEFAULT_MAX_FRAME_BYTES,
        help=f"largest frame read or written (default {DEFAULT_MAX_FRAME_BYTES}; "
        f"{MIN_FRAME_BYTES} to {MAX_FRAME_BYTES})",
    )
    p.add_argument(
        "--max-inflight",
        type=_inflight,
        default=DEFAULT_MAX_INFLIGHT,
        help=f"requests in flight before new ones are answered 'overloaded' (default {DEFAULT_MAX_INFLIGHT}, "
        f"at most {MAX_INFLIGHT})",
    )
    p.add_argument(
        "--shutdown-grace",
        type=_grace_seconds,
        default=DEFAULT_SHUTDOWN_GRACE_SECONDS,
        metavar="SECONDS",
        help="default time worker/shutdown and SIGTERM give in-flight requests before cancelling them "
        f"(default {DEFAULT_SHUTDOWN_GRACE_SECONDS:g}; 0 to {MAX_SHUTDOWN_GRACE_SECONDS:g})",
    )
    p.add_argument(
        "--input-root",
        type=_input_root,
        metavar="DIR",
        action="append",
        default=[],
        help='read {"path": ...} inputs only from inside DIR (repeatable; default: no confinement)',
    )
    p.add_argument(
        "--max-input-bytes",
        type=_size,
        default=DEFAULT_MAX_INPUT_BYTES,
        help=f'largest file a {{"path": ...}} input may name (default {DEFAULT_MAX_INPUT_BYTES})',
    )
    p.add_argument(
        "--max-image-pixels",
        type=_size,
        default=DEFAULT_MAX_IMAGE_PIXELS,
        help=f"largest image (width x height) decoded or made (default {DEFAULT_MAX_IMAGE_PIXELS})",
    )
    p.add_argument(
        "--max-request-input-bytes",
        type=_size,
        default=DEFAULT_MAX_REQUEST_INPUT_BYTES,
        help="the inputs of one model/run together, decoded (images as pixels x bands, audio and tensors "
        f"as bytes; default {DEFAULT_MAX_REQUEST_INPUT_BYTES})",
    )
    p.add_argument(
        "--max-tensor-bytes",
        type=_size,
        default=None,
        help="total bytes of tensors kept in the worker (default: half the memory the worker may use)",
    )
    p.add_argument(
        "--hub-timeout",
        type=_timeout_seconds,
        default=DEFAULT_HUB_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="deadline for the hub part of a model/load: every network step, and any stretch of the "
        f"download without progress (default {DEFAULT_HUB_TIMEOUT_SECONDS:g})",
    )
    p.add_argument("--parent-pid", type=_pid, default=None, help="exit when this process is gone")
    p.add_argument("--debug", action="store_true", help="include tracebacks in error.data")
    p.add_argument(
        "--enable-test-methods",
        action="store_true",
        help="register the fault-injection methods test/* (never in production)",
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow model/load to run code shipped with a model (off by default)",
    )
    p.add_argument(
        "--process-group",
        action="store_true",
        help="lead a process group of its own (POSIX), so that the host can end the worker and every "
        "process it started with one signal to the group",
    )
    p.add_argument(
        "--threads",
        type=_thread_count,
        default=None,
        help=f"intra-op threads of torch, MKL and ONNX Runtime (1 to {MAX_THREADS}; default: torch's, one "
        "per physical core; sets OMP_NUM_THREADS over the environment's). Idle threads sleep "
        "(OMP_WAIT_POLICY=PASSIVE unless the environment sets it)",
    )
    p.add_argument(
        "--native-bf16",
        choices=["auto", "yes", "no"],
        default="auto",
        help="whether dtype auto may run models in bfloat16 on the CPU after its load-time check: auto "
        "when torch finds AMX or AVX-512 BF16 (default); yes on any CPU (testing: slow where emulated); "
        "no keeps float32",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=None,
        help="where exported ONNX graphs are kept for backend onnxruntime and model/export "
        "(default $HF_HOME/hf-worker/onnx, or ~/.cache/huggingface/hf-worker/onnx)",
    )
    p.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="info", help="stderr log level"
    )
    return p


def parse_config(argv: list[str] | None = None) -> Config:
    parser = build_parser()
    args = parser.parse_args(argv)
    encoding: Encoding = args.encoding or ("msgpack" if args.framing == "length" else "json")
    if args.framing == "ndjson" and encoding != "json":
        parser.error("--framing ndjson carries JSON only (a MessagePack payload may contain newlines)")
    return Config(
        framing=args.framing,
        encoding=encoding,
        pipe=args.pipe,
        max_frame_bytes=args.max_frame_bytes,
        max_inflight=args.max_inflight,
        shutdown_grace_seconds=args.shutdown_grace,
        parent_pid=args.parent_pid,
        debug=args.debug,
        enable_test_methods=args.enable_test_methods,
        trust_remote_code=args.trust_remote_code,
        threads=args.threads,
        log_level=args.log_level,
        input_roots=tuple(args.input_root),
        max_input_bytes=args.max_input_bytes,
        max_image_pixels=args.max_image_pixels,
        max_request_input_bytes=args.max_request_input_bytes,
        max_tensor_bytes=args.max_tensor_bytes,
        hub_timeout_seconds=args.hub_timeout,
        process_group=args.process_group,
        native_bf16=args.native_bf16,
        cache_dir=os.path.abspath(args.cache_dir) if args.cache_dir else None,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["doctor"]:
        # A command of its own: it describes the environment and exits; no protocol is spoken.
        from worker.doctor import main as doctor

        return doctor(args[1:])
    config = parse_config(args)
    # Before anything can import torch: OpenMP, MKL and tokenizers read these when they start.
    from worker.models import threads

    threads.apply(config)
    # Imported here so that --help and argument errors stay instant.
    from worker.runtime.lifecycle import run

    return run(config)


if __name__ == "__main__":
    sys.exit(main())
