"""The id of a request whose frame could not be read whole, from the frame's first bytes.

A frame over ``--max-frame-bytes``, or one whose buffer could not be had, is read past and dropped:
its answer would have to carry id null, and the client's call would never be answered. Clients
write ``jsonrpc``, ``id`` and ``method`` before ``params`` (the C# host and ``worker.client`` do), so
the id is usually in the first few bytes. This reads the top-level members of the kept head one by
one, and gives up (None) at the first member whose value is not a short scalar, at a batch, or at
the end of the head: it never guesses, and never mistakes an ``id`` inside params for the request's.
"""

from __future__ import annotations

import json
import struct

# What framing keeps of a dropped frame: room for the envelope's first members, nothing more.
HEAD_BYTES = 4096

Id = int | str


def request_id(head: bytes, encoding: str) -> Id | None:
    """The ``id`` member of the request that ``head`` starts, or None when it cannot be told."""
    try:
        if encoding == "msgpack":
            return _MsgpackHead(head).request_id()
        return _JsonHead(head).request_id()
    except (_GiveUp, IndexError, ValueError, struct.error, UnicodeDecodeError):
        return None


class _GiveUp(Exception):
    pass


def _as_id(value: object) -> Id | None:
    """A value the protocol takes as an id (an int or a str that can be sent back), else None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no answer could carry it
            return None
    return value


def _utf8_head(data: bytes) -> str:
    """The head as text; a character cut by the head's end is left out, anything else invalid fails."""
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode()
        except UnicodeDecodeError:
            continue
    raise _GiveUp


class _MsgpackHead:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def request_id(self) -> Id | None:
        try:
            members = self._map_header()
            for _ in range(members):
                key = self._scalar()
                value = self._scalar()
                if key == "id":
                    return _as_id(value)
        except _GiveUp:
            return None
        return None

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise _GiveUp
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def _byte(self) -> int:
        return self._take(1)[0]

    def _map_header(self) -> int:
        code = self._byte()
        if 0x80 <= code <= 0x8F:
            return code & 0x0F
        if code == 0xDE:
            return int(struct.unpack(">H", self._take(2))[0])
        if code == 0xDF:
            return int(struct.unpack(">I", self._take(4))[0])
        raise _GiveUp  # a batch (array), or not a request at all

    def _scalar(self) -> object:
        """A str, int, nil, bool or float; anything else (params, a long string) ends the search."""
        code = self._byte()
        if code <= 0x7F:
            return code
        if code >= 0xE0:
            return code - 0x100
        if 0xA0 <= code <= 0xBF:
            return self._take(code & 0x1F).decode()
        fixed = {
            0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
            0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
            0xCA: ">f", 0xCB: ">d",
        }  # fmt: skip
        if code in fixed:
            fmt = fixed[code]
            return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
        lengths = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
        if code in lengths:
            fmt = lengths[code]
            size = struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
            return self._take(size).decode()
        if code == 0xC0:
            return None
        if code in (0xC2, 0xC3):
            return code == 0xC3
        raise _GiveUp


class _JsonHead:
    def __init__(self, data: bytes) -> None:
        self._text = _utf8_head(data)
        self._pos = 0
        self._decoder = json.JSONDecoder()

    def request_id(self) -> Id | None:
        try:
            self._expect("{")
            while True:
                key = self._value()
                self._expect(":")
                value = self._value()
                if key == "id":
                    return _as_id(value)
                self._skip_space()
                if self._peek() != ",":
                    return None
                self._pos += 1
        except _GiveUp:
            return None

    def _skip_space(self) -> None:
        while self._pos < len(self._text) and self._text[self._pos] in " \t\r\n":
            self._pos += 1

    def _peek(self) -> str:
        if self._pos >= len(self._text):
            raise _GiveUp
        return self._text[self._pos]

    def _expect(self, char: str) -> None:
        self._skip_space()
        if self._peek() != char:
            raise _GiveUp
        self._pos += 1

    def _value(self) -> object:
        """A string, number, true, false or null; an object or array (params) ends the search."""
        self._skip_space()
        if self._peek() in "{[":
            raise _GiveUp
        try:
            value, end = self._decoder.raw_decode(self._text, self._pos)
        except json.JSONDecodeError:
            raise _GiveUp from None
        if end >= len(self._text):
            raise _GiveUp  # a number or literal cut by the end of the head may be longer
        self._pos = end
        return value
