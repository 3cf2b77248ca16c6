"""Named-pipe transport: the worker connects as a client to a pipe the host created.

On Windows the pipe is ``\\\\.\\pipe\\NAME``. Elsewhere .NET's ``NamedPipeServerStream`` listens on a
Unix domain socket named ``CoreFxPipe_NAME`` in the temporary directory (``$TMPDIR``, else ``/tmp``),
and that is what we connect to. A NAME that is an absolute path is used as the socket path as is.
The host may start listening a moment after it starts us, so connecting is retried for a while.

The temporary directory is shared with every user of the machine, so whoever listens there is not
trusted by its name alone. A path that is a symlink, is not a socket, or is owned by another user is
refused before connecting; after connecting, the listener's credentials (``SO_PEERCRED`` on Linux,
``LOCAL_PEERCRED`` on macOS) must show our own user, which also covers a socket swapped between the
check and the connect. Every failure is a PipeError with one reason; the worker logs it and exits 2.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct
import sys
import time

from worker.transport import Transport

CONNECT_TIMEOUT_SECONDS = 10.0
# sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included.
MAX_SOCKET_PATH_BYTES = 103 if sys.platform == "darwin" else 107


class PipeError(ConnectionError):
    """The pipe cannot be used; the message says why, in one line."""


def socket_path(name: str) -> str:
    if os.path.isabs(name):
        return name
    # Mirrors .NET's Path.GetTempPath() on Unix: $TMPDIR if set, else /tmp.
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, f"CoreFxPipe_{name}")


def open_pipe(name: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Transport:
    """Connect to the host's pipe; PipeError (never another exception) when that is not possible."""
    if sys.platform == "win32":  # pragma: no cover - no Windows in CI
        return _open_windows_pipe(name, timeout)  # type: ignore[name-defined, unused-ignore]
    try:
        path = socket_path(name)
        sock = _connect(path, timeout)
    except PipeError:
        raise
    except (OSError, ValueError) as exc:  # a NUL in the name, a path the OS cannot encode, ...
        raise PipeError(f"cannot use pipe {name!r}: {exc.__class__.__name__}: {exc}") from None

    def close() -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    return Transport("pipe", sock.recv, sock.sendall, close, sock.recv_into)


def _connect(path: str, timeout: float) -> socket.socket:
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        raise PipeError(
            f"pipe path {path!r} is {size} bytes, longer than the {MAX_SOCKET_PATH_BYTES} a socket allows"
        )
    deadline = time.monotonic() + timeout
    while True:
        if _check_path(path):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                sock.close()
                waited_for = f"{exc.__class__.__name__}: {exc.strerror}"
            except OSError as exc:
                sock.close()
                raise PipeError(
                    f"cannot connect to pipe {path}: {exc.__class__.__name__}: {exc.strerror}"
                ) from None
        else:
            waited_for = "no such socket"
        if time.monotonic() >= deadline:
            raise PipeError(f"no pipe server at {path} after {timeout:g}s ({waited_for})")
        time.sleep(0.05)
    try:
        check_peer(sock)
    except PipeError as exc:
        sock.close()
        raise PipeError(f"pipe {path}: {exc}") from None
    return sock


def _check_path(path: str) -> bool:
    """False while nothing is there yet; PipeError for something we must not connect to."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:  # ENOTDIR (a parent is a file), EACCES, ELOOP, ...
        raise PipeError(f"cannot use pipe {path}: {exc.__class__.__name__}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise PipeError(f"refusing pipe {path}: it is a symbolic link")
    if not stat.S_ISSOCK(info.st_mode):
        raise PipeError(f"refusing pipe {path}: it is not a socket")
    if info.st_uid != os.geteuid():
        raise PipeError(
            f"refusing pipe {path}: it belongs to uid {info.st_uid}, not to this worker's uid {os.geteuid()}"
        )
    return True


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process listening at the other end of ``sock``; None where the OS does not say."""
    if sys.platform.startswith("linux"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", raw)
        return int(uid)
    if sys.platform == "darwin":  # pragma: no cover - no macOS in CI
        sol_local, local_peercred = 0, 0x001
        # struct xucred: u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]
        raw = sock.getsockopt(sol_local, local_peercred, 76)
        _version, uid = struct.unpack_from("=II", raw)
        return int(uid)
    return None


def check_peer(sock: socket.socket) -> None:
    """PipeError unless the listening peer runs as our user (where the OS tells)."""
    try:
        uid = peer_uid(sock)
    except OSError as exc:
        if exc.errno in (errno.ENOPROTOOPT, errno.EOPNOTSUPP):
            return
        raise PipeError(f"cannot read the listener's credentials: {exc.strerror}") from None
    if uid is not None and uid != os.geteuid():
        raise PipeError(
            f"refusing the listener: it runs as uid {uid}, not as this worker's uid {os.geteuid()}"
        )


if sys.platform == "win32":  # pragma: no cover - no Windows in CI

    def _open_windows_pipe(name: str, timeout: float) -> Transport:
        # A synchronous pipe handle serialises a blocked ReadFile with every WriteFile on the same
        # handle, so reads and writes use overlapped I/O, as multiprocessing does on Windows.
        import _winapi

        path = name if name.startswith("\\\\") else rf"\\.\pipe\{name}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                handle = _winapi.CreateFile(
                    path,
                    _winapi.GENERIC_READ | _winapi.GENERIC_WRITE,
                    0,
                    _winapi.NULL,
                    _winapi.OPEN_EXISTING,
                    _winapi.FILE_FLAG_OVERLAPPED,
                    _winapi.NULL,
                )
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"cannot open {path} after {timeout:g}s: {exc}") from None
                time.sleep(0.05)

        def read(n: int) -> bytes:
            try:
                ov, _ = _winapi.ReadFile(handle, n, overlapped=True)
                data: bytes = ov.getbuffer() if ov.GetOverlappedResult(True)[0] else b""
                return bytes(data)
            except BrokenPipeError:
                return b""

        def write_all(data: bytes) -> None:
            view = memoryview(data)
            while view:
                ov, _ = _winapi.WriteFile(handle, view, overlapped=True)
                written, _ = ov.GetOverlappedResult(True)
                view = view[written:]

        def close() -> None:
            _winapi.CloseHandle(handle)

        return Transport("pipe", read, write_all, close)
