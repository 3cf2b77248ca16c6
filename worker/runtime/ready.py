"""The ``worker/ready`` handshake: the first message the worker writes.

``token`` is the one-time secret the host put in the worker's environment (``HF_WORKER_TOKEN``),
echoed so the host knows the process at the other end of the pipe is the one it started; absent
when the host passed none.
"""

from __future__ import annotations

import os

import msgspec

# The environment variable a host may set to a one-time secret for the handshake (never an argument:
# a command line is visible to every user of the machine).
TOKEN_VARIABLE = "HF_WORKER_TOKEN"


class ReadyParams(msgspec.Struct, omit_defaults=True):
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
    token: str | None = None


def take_token() -> str | None:
    """The host's handshake secret, out of the environment now: no child process or model code inherits it."""
    # os.environ.pop also unsets the variable in the C environment, which is what children inherit.
    return os.environ.pop(TOKEN_VARIABLE, None) or None
