"""How the real worker ends, on every wire: crash, shutdown, end of input, signals, a dead parent,
overload, and what the pipe transport leaves alone. Each test owns its worker process."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import pytest

from tests.e2e.wire import ALL_WIRES, Wire, WorkerProcess, error_code, start_all

pytestmark = pytest.mark.e2e

TEST_METHODS = "--enable-test-methods"


def wait_until_draining(w: WorkerProcess, timeout: float = 5.0) -> list[dict[str, object]]:
    """Send test/echo until one is refused -32003 (worker/shutdown has begun); returns the answers."""
    answers = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers.append(w.call("test/echo", {"value": "probe"}))
        if error_code(answers[-1]) == -32003:
            return answers
        time.sleep(0.01)
    raise AssertionError(f"the worker never started draining: {answers[-3:]}")


def test_crash_exits_with_the_code_asked_for(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        rid = w.request("test/crash", {"exit_code": 7})
        assert w.wait_exit() == 7
        w.join_output()
        assert w.responses_to(rid) == []
        assert "exiting with code 7" in w.stderr_text()


def test_a_native_crash_kills_the_process_with_sigsegv(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        rid = w.request("test/crash", {"native": True, "exit_code": 7})
        assert w.wait_exit() == -signal.SIGSEGV
        w.join_output()
        assert w.responses_to(rid) == []
        assert "reading address 0 (native crash)" in w.stderr_text()
        assert "exiting with code" not in w.stderr_text()


def test_shutdown_lets_requests_in_flight_finish_then_exits_0(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        # In flight until the test releases it, however slowly the steps below run.
        sleeper, key = w.hang_until_released()
        shutdown = w.request("worker/shutdown", {"grace_seconds": 3600})
        probes = wait_until_draining(w)
        # Probes admitted before the shutdown began were answered like any request.
        assert all(p.get("result") == "probe" for p in probes[:-1])
        draining_ping = w.call("worker/ping", {"while": "draining"})
        assert draining_ping["result"] == {"while": "draining"}
        assert w.responses_to(sleeper) == [] and w.responses_to(shutdown) == []
        assert w.call("test/release", {"key": key})["result"] == {"waiting": 1}
        slept = w.response(sleeper)
        assert "result" in slept
        done = w.response(shutdown)
        assert done["result"] == {"completed": True, "cancelled": 0}
        assert w.arrival(slept) <= w.arrival(done)
        assert w.wait_exit() == 0
        w.join_output()
        assert w.protocol_errors == []


def test_shutdown_with_a_short_grace_cancels_a_long_sleep(wire: Wire) -> None:
    # The default grace is an hour and the sleep too: an exit within the waits below (30 s at most)
    # can only come from the 0.2 s grace asked for.
    with WorkerProcess(wire, TEST_METHODS, "--shutdown-grace", "3600") as w:
        sleeper = w.request("test/sleep", {"seconds": 3600})
        w.call("worker/ping")
        shutdown = w.request("worker/shutdown", {"grace_seconds": 0.2})
        assert error_code(w.response(sleeper, timeout=30)) == -32800
        assert w.response(shutdown)["result"] == {"completed": False, "cancelled": 1}
        assert w.wait_exit(30) == 0


def test_a_cancelled_shutdown_still_exits_0(wire: Wire) -> None:
    # StreamJsonRpc cancels a call whose CancellationToken fires, worker/shutdown included.
    with WorkerProcess(wire, TEST_METHODS) as w:
        sleeper, key = w.hang_until_released()  # still running when the cancel lands, however late
        shutdown = w.request("worker/shutdown", {"grace_seconds": 3600})
        wait_until_draining(w)
        w.cancel(shutdown)
        assert error_code(w.response(shutdown)) == -32800
        w.call("test/release", {"key": key})
        assert "result" in w.response(sleeper)
        assert w.wait_exit(30) == 0


def test_end_of_input_answers_requests_in_flight_then_exits_0(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        sleeper = w.request("test/sleep", {"seconds": 0.3})
        echo = w.request("test/echo", {"value": "x"})
        w.close_input()
        assert w.wait_exit() == 0
        w.join_output()
        assert "result" in w.response(sleeper, timeout=0)
        assert w.response(echo, timeout=0)["result"] == "x"
        assert w.protocol_errors == []


def test_input_ending_inside_a_frame_is_end_of_input(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        sleeper = w.request("test/sleep", {"seconds": 0.2})
        frame = w.wire.wrap(w.wire.encode({"jsonrpc": "2.0", "id": "cut", "method": "worker/ping"}))
        cut = frame[: len(frame) - 3] if wire.framing != "ndjson" else frame[:-1]
        w.send_raw(cut)
        w.close_input()
        assert w.wait_exit() == 0
        w.join_output()
        assert "result" in w.response(sleeper, timeout=0)
        if wire.framing == "ndjson":
            # A last line without its newline is still a whole line.
            assert w.responses_to("cut") != []
        else:
            assert w.responses_to("cut") == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_lets_work_finish_and_exits_0_without_traceback(wire: Wire, signum: int) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        sleeper = w.request("test/sleep", {"seconds": 0.3})
        w.call("worker/ping")
        w.proc.send_signal(signum)
        assert w.wait_exit() == 0
        w.join_output()
        assert "result" in w.response(sleeper, timeout=0)
        assert "Traceback" not in w.stderr_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_right_after_ready_exits_0_without_traceback(signum: int) -> None:
    # A host may stop a worker the moment it has said it is ready.
    for _ in range(5):
        with WorkerProcess(Wire("stdio", "length", "msgpack")) as w:
            w.proc.send_signal(signum)
            assert w.wait_exit() == 0, w.stderr_text()
            w.join_output()
            assert "Traceback" not in w.stderr_text()


def test_signal_cancels_what_outlives_the_grace_period(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS, "--shutdown-grace", "0.2") as w:
        sleeper = w.request("test/sleep", {"seconds": 30})
        w.call("worker/ping")
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait_exit(5) == 0
        w.join_output()
        assert error_code(w.response(sleeper, timeout=0)) == -32800


def test_a_second_signal_exits_at_once_with_128_plus_its_number() -> None:
    # The hang is never released and the grace is an hour: only the second signal can end the worker
    # within the wait below.
    with WorkerProcess(Wire("stdio", "length", "msgpack"), TEST_METHODS, "--shutdown-grace", "3600") as w:
        w.hang_until_released()
        w.proc.send_signal(signal.SIGTERM)
        w.wait_stderr("stopping: signal")
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait_exit(30) == 128 + signal.SIGTERM


def test_a_signal_during_the_end_of_input_drain_bounds_it_by_the_grace_and_answers_in_flight() -> None:
    # End of input waits for requests in flight however long they take; a first SIGTERM then must
    # turn that into the signal's stop (grace, cancel the rest, answer, exit 0), not exit 143 at once
    # with the answers lost.
    with WorkerProcess(Wire("stdio", "length", "msgpack"), TEST_METHODS, "--shutdown-grace", "0.2") as w:
        sleeper = w.request("test/sleep", {"seconds": 600})
        w.call("worker/ping")
        w.close_input()
        w.wait_stderr("stopping: eof")
        w.proc.send_signal(signal.SIGTERM)
        assert w.wait_exit(30) == 0
        w.join_output()
        assert error_code(w.response(sleeper, timeout=0)) == -32800
        assert "Traceback" not in w.stderr_text()


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_worker_exits_when_its_parent_dies(reap: bool) -> None:
    # Every wire at once: the parent watch does not depend on the wire, and this keeps the test short.
    # An unreaped parent is a zombie that still has a pid: it must count as gone too.
    parents = [subprocess.Popen(["sleep", "60"]) for _ in ALL_WIRES]
    workers: list[WorkerProcess] = []
    try:
        workers = start_all(
            [(wire, ["--parent-pid", str(p.pid)]) for wire, p in zip(ALL_WIRES, parents, strict=True)]
        )
        for w in workers:
            assert w.call("worker/ping")["result"] is None
        time.sleep(0.6)  # at least one liveness check passes while the parents live
        assert [w.proc.poll() for w in workers] == [None] * len(workers)
        for p in parents:
            p.kill()
            if reap:
                p.wait()
        for w in workers:
            assert w.wait_exit(5) == 0, w.wire.id
            w.join_output()
            assert "parent process" in w.stderr_text()
    finally:
        for w in workers:
            w.close()
        for p in parents:
            p.kill()
            p.wait()


def test_overload_is_answered_at_once_and_ping_still_works(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS, "--max-inflight", "2") as w:
        a = w.request("test/sleep", {"seconds": 3600})
        b = w.request("test/sleep", {"seconds": 3600})
        w.call("worker/ping")
        c = w.request("test/sleep", {"seconds": 3600})
        # Behind the hour-long sleeps, any answer within the wait is the refusal at once, not a queue.
        refused = w.response(c, timeout=30)
        assert error_code(refused) == -32001
        assert w.call("worker/ping", {"alive": True})["result"] == {"alive": True}
        assert w.call("worker/info")["result"]["inflight"] == 2
        w.cancel(a)
        assert error_code(w.response(a)) == -32800
        assert w.call("test/echo", {"value": "room again"})["result"] == "room again"
        w.cancel(b)
        assert error_code(w.response(b)) == -32800


@pytest.mark.parametrize("wire", [w for w in ALL_WIRES if w.transport == "pipe"], ids=lambda w: w.id)
def test_pipe_transport_leaves_stdin_and_stdout_alone(wire: Wire) -> None:
    with WorkerProcess(wire, TEST_METHODS) as w:
        assert w.proc.stdin is not None
        w.proc.stdin.write(b"\x00\x00\x00\x05hello this is not for the worker\n")
        w.proc.stdin.flush()
        text = f"pipe-stray-{uuid.uuid4().hex}"
        assert "result" in w.call("test/print", {"text": text})
        assert w.call("worker/ping", [1])["result"] == [1]
        shutdown = w.request("worker/shutdown")
        assert "result" in w.response(shutdown)
        assert w.wait_exit() == 0
        w.join_output()
        assert w.stdout_bytes() == b""
        assert text in w.stderr_text()
        assert w.protocol_errors == []
