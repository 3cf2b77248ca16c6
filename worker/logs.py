"""Logging to stderr, one JSON object per line: {"ts", "level", "logger", "msg", ...}.

Stderr is the only place logs may go: stdout is the protocol stream.
"""

from __future__ import annotations

import logging
import sys
import traceback

import msgspec

_encoder = msgspec.json.Encoder()


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return _encoder.encode(entry).decode()


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that log chattily at INFO (transformers' weight reports) are kept at WARNING
    # unless the operator asked for debug.
    if level != "debug":
        for noisy in ("transformers", "urllib3", "filelock", "huggingface_hub", "numba"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
