"""Files named by ``{"path": ...}`` inputs: the one way the worker reads a file a client names.

A client-named path can name anything the process can open: a FIFO or a terminal that blocks a
handler thread forever, the worker's own protocol descriptors (``/proc/self/fd/0`` reads request
bytes out from under the reader), ``/proc/self/environ``, or a file far larger than memory. So:

- the path is resolved (symlinks, ``..``) and, when the operator gave ``--input-root`` folders,
  must lie inside one of them (-32007 Forbidden);
- it is checked with ``stat`` (which never opens, so device nodes with side effects on open are
  never opened) and opened with ``O_NONBLOCK`` (a FIFO's open does not wait for a writer), then
  checked again on the opened descriptor: only a regular file is read (-32006 InvalidInput naming
  what it is), and where Linux says what was really opened (``/proc/self/fd/N``), that path must
  pass the same confinement, which closes the race of a symlink swapped between check and open;
- nothing under ``/proc`` or ``/sys`` is read, named directly or reached through a symlink
  (-32007): their "regular files" are the kernel's view of processes (``/proc/self/environ``,
  ``/proc/self/fd/2`` when stderr is a file), never model inputs. ``/proc/self/fd/N`` naming a
  protocol pipe or socket is refused as not a regular file before that. ``/dev`` holds devices,
  refused as not regular files without ever being opened; a regular file there (``/dev/shm``, a
  tmpfs hosts use for temporary files) is read like any other;
- the size is checked on the opened descriptor before reading (``--max-input-bytes``, -32008),
  and the bytes are read from that same descriptor, then decoded from memory.

This module is not about decoding: audio and image decoders take the bytes it returns.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from worker.config import DEFAULT_MAX_INPUT_BYTES
from worker.errors import Forbidden, InvalidInput, ResourceExhausted, shorten

# Kernel pseudo-filesystems whose regular files are process and kernel state. Never inputs.
PSEUDO_ROOTS = ("/proc", "/sys")
# A client's path is quoted in messages only up to this many characters.
QUOTED_PATH_CHARS = 200

_OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
)


@dataclass(frozen=True)
class FilePolicy:
    """Which files inputs may name and how large they may be (``--input-root``, ``--max-input-bytes``).

    ``roots`` are resolved here (realpath) so that a root given through a symlink still contains
    the real paths of the files inside it. Empty ``roots``: no confinement."""

    roots: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(os.path.realpath(root) for root in self.roots))

    @classmethod
    def from_config(cls, config: Any) -> FilePolicy:
        return cls(roots=tuple(config.input_roots), max_bytes=int(config.max_input_bytes))

    def allows(self, real_path: str) -> bool:
        """Whether the resolved ``real_path`` lies inside a root (always, without roots)."""
        return not self.roots or any(_inside(real_path, root) for root in self.roots)


class InputFile:
    """A checked, open regular file: read its bytes with ``read()``; close it (or use ``with``)."""

    def __init__(self, path: str, fd: int, size: int) -> None:
        self.path = path  # as the client named it, for messages
        self.fd = fd
        self.size = size

    def read(self) -> bytes:
        """The file's bytes, at most the size that was checked (a file that grows meanwhile is read
        as it was; one that shrinks is read to its end)."""
        parts: list[bytes] = []
        got = 0
        while got < self.size:
            part = os.read(self.fd, self.size - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    @property
    def shared_path(self) -> str | None:
        """A path by which another process (a decoder such as ffmpeg) opens this same checked file,
        not whatever the client's path names by then: ``/proc/<pid>/fd/<fd>`` on Linux; None
        where there is no such name."""
        name = f"/proc/{os.getpid()}/fd/{self.fd}"
        return name if os.path.exists(name) else None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> InputFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_input_file(path: str, policy: FilePolicy, what: str) -> bytes:
    """The bytes of the regular file ``path``, under ``policy``; ``what`` names it in errors
    ("audio file", "image file")."""
    with open_input_file(path, policy, what) as opened:
        return opened.read()


def open_input_file(path: str, policy: FilePolicy, what: str) -> InputFile:
    """Check ``path`` against ``policy`` and open it without ever blocking (see the module
    docstring for the rules and their errors)."""
    named = f"{what} {quote(path)}"
    if not path or "\x00" in path:
        raise InvalidInput(f"{named} is not a file name")
    try:
        real = os.path.realpath(path)
    except OSError as exc:  # a link it may not read (/proc/1/root as another user)
        _check_not_passing_pseudo(named, path)
        raise _unreadable(named, exc) from None
    if not policy.allows(real):
        raise Forbidden(f"{named} is outside the folders inputs may be read from (--input-root)")
    try:
        # The name as given: stat follows /proc/self/fd/N to the pipe or socket it stands for.
        before = os.stat(path)
    except OSError as exc:
        raise _unreadable(named, exc) from None
    _check_kind(named, before.st_mode)
    _check_not_pseudo(named, path, real)
    _check_not_passing_pseudo(named, path)
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(named, exc) from None
    try:
        opened = os.fstat(fd)
        _check_kind(named, opened.st_mode)  # swapped for something else since the stat above
        _check_opened(named, fd, real, opened, policy)
        if opened.st_size > policy.max_bytes:
            raise ResourceExhausted(
                f"{named} is {opened.st_size} bytes, over the limit of {policy.max_bytes} "
                "(--max-input-bytes)",
                data={"size_bytes": opened.st_size, "max_input_bytes": policy.max_bytes},
            )
    except BaseException:
        os.close(fd)
        raise
    return InputFile(path, fd, opened.st_size)


def quote(path: str) -> str:
    """``path`` quoted for a message, its head and tail kept as every bounded message does (it comes
    from the client)."""
    return repr(shorten(path, QUOTED_PATH_CHARS))


def kind_of(mode: int) -> str:
    """What a file is, in words, from its ``st_mode``."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _check_kind(named: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{named} is {kind_of(mode)}; only regular files are read")


def _check_not_pseudo(named: str, path: str, real: str) -> None:
    # Both the name as given and the resolved one: /proc/self/fd/N of a regular file resolves to
    # that file's own name, which is then no different from naming the file itself.
    for candidate in (os.path.abspath(path), real):
        if any(_inside(candidate, root) for root in PSEUDO_ROOTS):
            raise Forbidden(
                f"{named} is in {_pseudo_root(candidate)}: the worker never reads inputs from there"
            )


def _check_not_passing_pseudo(named: str, path: str) -> None:
    # Every name met while resolving: /dev/fd/3 and /dev/stderr reach a file only through
    # /proc/self/fd, whose links resolve to the file's own name, so neither end shows it.
    for hop in _resolution_hops(path):
        _check_not_pseudo(named, hop, hop)


# As the kernel's path resolution: more symbolic links than this in one path is ELOOP.
_MAX_SYMLINKS = 40


def _resolution_hops(path: str) -> list[str]:
    """Each absolute name met while resolving ``path`` one component and one symbolic link at a
    time: the prefixes, and each link's target as it is read. Stops quietly where a component
    cannot be looked at (opening the file reports that) or after too many links."""
    hops: list[str] = []
    current = os.sep if os.path.isabs(path) else os.getcwd()
    remaining = [part for part in path.split(os.sep) if part]
    links = 0
    while remaining:
        part = remaining.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current) or os.sep
            continue
        candidate = os.path.join(current, part)
        hops.append(candidate)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a link (EINVAL), absent, or not ours to read
            current = candidate
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            break
        if os.path.isabs(target):
            current = os.sep
        hops.append(os.path.normpath(os.path.join(current, target)))
        remaining = [p for p in target.split(os.sep) if p] + remaining
    return hops


def _check_opened(named: str, fd: int, real: str, opened: os.stat_result, policy: FilePolicy) -> None:
    """What was opened is what was checked: on Linux the kernel's name for the open file must pass
    the same rules; elsewhere the opened file must be the one ``real`` names."""
    try:
        actual = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        actual = None
    if actual is not None and actual.startswith("/"):
        actual = actual.removesuffix(" (deleted)")
        if not policy.allows(actual):
            raise Forbidden(f"{named} is outside the folders inputs may be read from (--input-root)")
        _check_not_pseudo(named, actual, actual)
        return
    try:
        now = os.stat(real)
    except OSError:
        now = None
    if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
        raise InvalidInput(f"{named} changed while it was being opened")


def _unreadable(named: str, exc: OSError) -> InvalidInput:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return InvalidInput(f"{named} not found")
    if isinstance(exc, PermissionError):
        return InvalidInput(f"{named} cannot be read: permission denied")
    return InvalidInput(f"{named} cannot be read: {exc.strerror or exc}")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _pseudo_root(path: str) -> str:
    return next(root for root in PSEUDO_ROOTS if _inside(path, root))
