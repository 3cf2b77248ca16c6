"""A small synchronous client for the real worker process, for the tensor tests and the tensor bench.

Length framing (4-byte big-endian size), MessagePack or JSON. Binary values go out as ``bytes``
(msgspec writes MessagePack bin, or base64 in JSON) and come back as ``bytes`` through ``binary()``.
"""

from __future__ import annotations

import base64
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[2]


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code: int = error["code"]
        self.message: str = error["message"]
        self.data: Any = error.get("data")


class WorkerProcess:
    def __init__(self, encoding: str = "msgpack", *args: str) -> None:
        self.encoding = encoding
        self._codec: Any = msgspec.msgpack if encoding == "msgpack" else msgspec.json
        self._encoder = self._codec.Encoder()
        self._decoder = self._codec.Decoder()
        self._envelope = self._codec.Decoder(dict[str, msgspec.Raw])
        self._typed: dict[Any, Any] = {}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "--framing", "length", "--encoding", encoding, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._frames: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_frames, daemon=True)
        self._reader.start()
        self._next_id = 0
        self.ready: dict[str, Any] = self._decoder.decode(self._next_frame(60))
        assert self.ready["method"] == "worker/ready", self.ready

    def _read_frames(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            header = out.read(4)
            if len(header) < 4:
                self._frames.put(None)
                return
            self._frames.put(out.read(int.from_bytes(header, "big")))

    def _next_frame(self, timeout: float) -> bytes:
        frame = self._frames.get(timeout=timeout)
        if frame is None:
            raise EOFError(f"the worker closed its output (exit code {self.proc.poll()})")
        return frame

    def send_frame(self, payload: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(len(payload).to_bytes(4, "big"))
        stdin.write(payload)
        stdin.flush()

    def encode_request(self, method: str, params: Any = None) -> bytes:
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        return self._encoder.encode(message)

    def receive(self, timeout: float = 60) -> dict[str, msgspec.Raw]:
        """The next response, skipping notifications, with its members still encoded."""
        while True:
            message = self._envelope.decode(self._next_frame(timeout))
            if "id" in message:
                return message

    def call(self, method: str, params: Any = None, timeout: float = 60, result_type: Any = Any) -> Any:
        """The result of one request decoded as ``result_type``, or RpcFailure for an error response.
        With a Struct whose binary fields are ``memoryview``, MessagePack bin is not copied."""
        self.send_frame(self.encode_request(method, params))
        response = self.receive(timeout)
        assert self._decoder.decode(response["id"]) == self._next_id, response
        if "error" in response:
            raise RpcFailure(self._decoder.decode(response["error"]))
        decoder = self._typed.get(result_type)
        if decoder is None:
            decoder = self._typed[result_type] = self._codec.Decoder(result_type)
        return decoder.decode(response["result"])

    def binary(self, value: Any) -> bytes:
        """A ``bytes`` result field as bytes, whichever the encoding."""
        return base64.b64decode(value) if self.encoding == "json" else bytes(value)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
