"""The wire shapes of model/run inputs.

In JSON a bare string cannot say whether it is text or a file name, so only text may be bare:

    "some text"                                  text
    {"text": "some text"}                        text, explicitly
    {"path": "/data/a.wav"}                      a file the worker reads (audio or image)
    {"bytes": <bin> | "<base64>"}                an encoded file (wav/flac/ogg/mp3, png/jpeg/webp)
    {"tensor": "<handle>", "sampling_rate"?: n}  a tensor kept in the worker (waveform or image array)
    {"question": "...", "context": "..."}        question answering
    {"messages": [{"role", "content"}, ...]}     a chat, for text generation with a chat template

A list of these is a batch: the result is then a list with one entry per input.
"""

from __future__ import annotations

import builtins

import msgspec

from worker.errors import InvalidParams


class ChatMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    content: str


class InputObject(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    text: str | None = None
    path: str | None = None
    # builtins.bytes: inside the class body the name ``bytes`` is this field.
    bytes: builtins.bytes | None = None
    tensor: str | None = None
    sampling_rate: int | None = None
    question: str | None = None
    context: str | None = None
    messages: list[ChatMessage] | None = None

    @property
    def kind(self) -> str:
        """Which shape this is; InvalidParams unless exactly one shape's members are present."""
        present = [
            name
            for name, value in (
                ("text", self.text),
                ("path", self.path),
                ("bytes", self.bytes),
                ("tensor", self.tensor),
                ("messages", self.messages),
            )
            if value is not None
        ]
        if self.question is not None or self.context is not None:
            present.append("question")
        if len(present) != 1:
            raise InvalidParams(
                "each input must be text or an object with exactly one of text, path, bytes, tensor, "
                f"question+context, messages; got {', '.join(present) or 'none of them'}"
            )
        kind = present[0]
        if self.sampling_rate is not None and kind != "tensor":
            raise InvalidParams("sampling_rate goes only with a tensor (encoded audio carries its own)")
        return kind


Input = str | InputObject


def as_object(value: Input) -> InputObject:
    return InputObject(text=value) if isinstance(value, str) else value
