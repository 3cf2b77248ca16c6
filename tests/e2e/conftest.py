"""Fixtures for end-to-end tests: the real worker as a subprocess, for every valid wire."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.wire import ALL_WIRES, Wire, WorkerProcess

# Small enough that an oversized frame is cheap to send; large enough for every normal message.
SMALL_FRAME_LIMIT = 65536


@pytest.fixture(params=ALL_WIRES, ids=lambda w: w.id)
def wire(request: pytest.FixtureRequest) -> Wire:
    return request.param


@pytest.fixture(scope="module", params=ALL_WIRES, ids=lambda w: w.id)
def shared_worker(request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    """One worker per wire for a module's tests that leave it serving."""
    with WorkerProcess(
        request.param, "--enable-test-methods", "--max-frame-bytes", str(SMALL_FRAME_LIMIT)
    ) as worker:
        yield worker
        assert worker.protocol_errors == []
