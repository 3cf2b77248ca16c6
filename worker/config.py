"""The worker's configuration: parsed once at start (see ``worker.cli``) and passed down, never re-read."""

from __future__ import annotations

from typing import Literal

import msgspec

Framing = Literal["length", "lsp", "ndjson"]
Encoding = Literal["msgpack", "json"]

DEFAULT_MAX_FRAME_BYTES = 256 * 1024 * 1024
# The smallest --max-frame-bytes: worker/ready and any error answer (messages are bounded) must fit.
MIN_FRAME_BYTES = 4096
DEFAULT_MAX_INFLIGHT = 256
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0
# Grace periods (--shutdown-grace, worker/shutdown's grace_seconds) must be finite and within this.
MAX_SHUTDOWN_GRACE_SECONDS = 3600.0
# A file named by {"path": ...} larger than this is refused before it is read.
DEFAULT_MAX_INPUT_BYTES = 1024 * 1024 * 1024
# Decoded images past this many pixels are refused before decoding (a 20 KB PNG can claim 13000x13000).
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
# The inputs of one model/run together, decoded (images as pixels x bands, audio as bytes): each input is
# bounded on its own, but a list of them multiplies that (eight 9000x9000 PNGs of 236 KB decode to 1.9 GB).
DEFAULT_MAX_REQUEST_INPUT_BYTES = 2 * 1024 * 1024 * 1024
# Every network step of a model/load from the hub (metadata, each download's connect and read) has
# this deadline, and the hub part of a load gives up after this long without progress (worker.models.hub).
DEFAULT_HUB_TIMEOUT_SECONDS = 15.0


class Config(msgspec.Struct, frozen=True, kw_only=True):
    framing: Framing = "length"
    encoding: Encoding = "msgpack"
    # None means stdio; otherwise the name of a pipe the host has created.
    pipe: str | None = None
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS
    parent_pid: int | None = None
    debug: bool = False
    enable_test_methods: bool = False
    trust_remote_code: bool = False
    threads: int | None = None
    log_level: str = "info"
    # Folders that {"path": ...} inputs must lie in; empty means no confinement.
    input_roots: tuple[str, ...] = ()
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_request_input_bytes: int = DEFAULT_MAX_REQUEST_INPUT_BYTES
    # None: derived from the memory the worker may use (see worker.tensors.budget).
    max_tensor_bytes: int | None = None
    hub_timeout_seconds: float = DEFAULT_HUB_TIMEOUT_SECONDS
    # Lead a process group of our own (POSIX) so the host can signal the worker and its children at once.
    process_group: bool = False
    # Whether the CPU computes bfloat16 natively: "auto" asks torch, "yes"/"no" override it
    # (worker.models.precision).
    native_bf16: Literal["auto", "yes", "no"] = "auto"
    # Where model/load's backend onnxruntime and model/export keep exported graphs; None:
    # $HF_HOME/hf-worker/onnx (worker.models.onnx.cache).
    cache_dir: str | None = None

    @property
    def transport(self) -> str:
        return "stdio" if self.pipe is None else "pipe"
