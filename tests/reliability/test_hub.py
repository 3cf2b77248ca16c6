"""The hub: a model/load of an uncached hub id answers -32005 within --hub-timeout whatever the network does.

Each test points HF_ENDPOINT at a local TCP server that misbehaves the way a stalled proxy or a
captive portal does: it accepts and never answers, answers headers and then stalls the body, or
trickles the body a byte at a time (which no per-read timeout ever catches). The worker runs with
an empty HF_HOME, HF_HUB_OFFLINE off and ``--hub-timeout 2``, under an address-space cap.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.wire import Wire
from tests.reliability.capped import TORCH_CAP_BYTES, capped_worker, needs_prlimit

pytest.importorskip("torch")

HUB_TIMEOUT = 2.0
# The documented bound is --hub-timeout plus the connect probe (which succeeds at once here) plus a
# poll; the slack is for a loaded two-core machine, not for the worker.
SLACK = 8.0
MODEL = "example-org/stalled-model"
WIRE = Wire("stdio", "length", "msgpack")


class MisbehavingHub:
    """A TCP server on 127.0.0.1 that reads each request and then misbehaves as ``kind`` says."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        try:
            self.requests.append(conn.recv(65536))
            if self.kind == "headers":
                conn.sendall(head + b"{")
            elif self.kind == "trickle":
                conn.sendall(head)
                while not self.stop.wait(0.2):
                    conn.sendall(b" ")
            self.stop.wait()
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture(params=["silent", "headers", "trickle"])
def hub(request: pytest.FixtureRequest) -> Iterator[MisbehavingHub]:
    server = MisbehavingHub(request.param)
    yield server
    server.close()


def hub_env(hub: MisbehavingHub, home: Path) -> dict[str, str]:
    return {
        "HF_ENDPOINT": f"http://127.0.0.1:{hub.port}",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


@needs_prlimit
def test_a_stalled_hub_answers_model_not_found_within_the_hub_timeout(
    hub: MisbehavingHub, tmp_path: Path
) -> None:
    with capped_worker(
        WIRE,
        "--hub-timeout",
        str(HUB_TIMEOUT),
        cap_bytes=TORCH_CAP_BYTES,
        env=hub_env(hub, tmp_path),
    ) as w:
        load = w.request("model/load", {"model": MODEL, "device": "cpu", "progressToken": "load"})
        downloading = w.wait_for(
            lambda m: (
                isinstance(m, dict)
                and m.get("method") == "$/progress"
                and m["params"]["value"].get("stage") == "downloading"
            ),
            60.0,
            what="the downloading stage",
        )
        # The worker is not held up by the stuck load: ping is answered while it waits.
        assert w.call("worker/ping", {"during": "load"})["result"] == {"during": "load"}
        answer = w.response(load, timeout=HUB_TIMEOUT + SLACK + 30.0)

        waited = w.arrival(answer) - w.arrival(downloading)
        assert answer["error"]["code"] == -32005, answer
        error = answer["error"]
        assert MODEL in error["message"]
        assert "--hub-timeout" in error["message"]
        assert error["data"]["model"] == MODEL
        assert error["data"]["timeout_seconds"] == HUB_TIMEOUT
        # It names the step it waited on: a request to the hub it was pointed at.
        assert f"127.0.0.1:{hub.port}/api/" in error["data"]["step"]
        assert error["data"]["step"] in error["message"]
        assert hub.requests, "the worker never reached the hub"
        assert HUB_TIMEOUT * 0.9 <= waited <= HUB_TIMEOUT + SLACK, waited
        assert w.call("worker/ping", {"after": "load"})["result"] == {"after": "load"}


@needs_prlimit
def test_loads_given_up_on_a_trickling_hub_are_bounded_and_the_worker_keeps_serving(tmp_path: Path) -> None:
    """A trickle keeps a given-up download's thread alive: past four, loads are refused at once."""
    hub = MisbehavingHub("trickle")
    try:
        with capped_worker(
            WIRE, "--hub-timeout", str(HUB_TIMEOUT), cap_bytes=TORCH_CAP_BYTES, env=hub_env(hub, tmp_path)
        ) as w:
            for i in range(4):
                answer = w.call("model/load", {"model": f"{MODEL}-{i}", "device": "cpu"}, timeout=60.0)
                assert "no progress" in answer["error"]["message"], answer
            refused = w.call("model/load", {"model": f"{MODEL}-5", "device": "cpu"}, timeout=60.0)
            assert refused["error"]["code"] == -32005
            assert "4 earlier downloads are still stuck" in refused["error"]["message"]
            assert w.call("worker/ping", {"still": "serving"})["result"] == {"still": "serving"}
    finally:
        hub.close()
