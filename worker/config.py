"""The worker's configuration: parsed once at start (see ``worker.cli``) and passed down, never re-read."""

from __future__ import annotations

from typing import Literal

import msgspec

Framing = Literal["length", "lsp", "ndjson"]
Encoding = Literal["msgpack", "json"]

DEFAULT_MAX_FRAME_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_INFLIGHT = 256
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0


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

    @property
    def transport(self) -> str:
        return "stdio" if self.pipe is None else "pipe"
