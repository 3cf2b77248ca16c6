"""The ``worker/ready`` handshake: the first message the worker writes."""

from __future__ import annotations

import msgspec


class ReadyParams(msgspec.Struct):
    protocol: int
    version: str
    pid: int
    python: str
    encoding: str
    framing: str
    transport: str
    methods: list[str]
    max_frame_bytes: int
    max_inflight: int
