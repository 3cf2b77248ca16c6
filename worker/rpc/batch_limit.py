"""How many elements a batch holds, told from the frame's bytes before any element is decoded.

Decoding a batch costs memory per element, whatever the element: a 20 KB JSON array of 20,000
numbers would become 20,000 objects and then 20,000 error responses. So the dispatcher asks here
first and refuses a batch over the limit as a whole, having allocated nothing for its elements.

- MessagePack states an array's length in its header: read it.
- JSON does not. An array of n elements holds at least n - 1 commas, so a payload with fewer
  commas than the limit is within it (the common case, one ``bytes.count``). Otherwise msgspec
  decodes the array into an array-like Struct of ``limit`` fields that keep their elements as Raw
  views: it skips over each element without building it and stops at the first one past the last
  field.

A payload that is not a well-formed array is not judged here (the codec answers it).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

BytesLike = bytes | bytearray

# The JSON check's Struct has one field per element allowed; past this many fields it would cost
# more to build (and to fill per batch) than the batches it guards against.
MAX_BATCH_ELEMENTS = 65536


class BatchLimit:
    def __init__(self, encoding: Literal["json", "msgpack"], limit: int) -> None:
        self.encoding = encoding
        self.limit = min(limit, MAX_BATCH_ELEMENTS)
        self._json_decoder: Any = None  # built on first need: most workers never see a large batch

    def excess(self, payload: BytesLike) -> str | None:
        """None when ``payload`` is not a batch over the limit; else how many elements it holds
        (``"300"``, or ``"more than 256"`` when only that much is known)."""
        if self.encoding == "msgpack":
            count = _msgpack_array_length(payload)
            return None if count is None or count <= self.limit else str(count)
        if not _starts_json_array(payload) or payload.count(b",") < self.limit:
            return None
        try:
            self._decoder().decode(payload)
        except msgspec.ValidationError:
            return f"more than {self.limit}"
        except Exception:  # not well-formed (or nested too deeply): the codec will say so
            return None
        return None

    def _decoder(self) -> Any:
        if self._json_decoder is None:
            fields = [(f"e{i}", msgspec.Raw, msgspec.Raw()) for i in range(self.limit)]
            batch = msgspec.defstruct("Batch", fields, array_like=True, forbid_unknown_fields=True)
            self._json_decoder = msgspec.json.Decoder(batch)
        return self._json_decoder


def _msgpack_array_length(payload: BytesLike) -> int | None:
    if not payload:
        return None
    first = payload[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F
    size = {0xDC: 2, 0xDD: 4}.get(first)
    if size is None or len(payload) < 1 + size:
        return None
    return int.from_bytes(payload[1 : 1 + size], "big")


# In C, not a Python loop: a frame of 256 MB of spaces took seconds of the reader thread byte by byte.
_JSON_ARRAY_START = re.compile(rb"[ \t\r\n]*\[")


def _starts_json_array(payload: BytesLike) -> bool:
    return _JSON_ARRAY_START.match(payload) is not None
