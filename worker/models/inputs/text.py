"""Text inputs."""

from __future__ import annotations

from worker.errors import InvalidInput
from worker.models.inputs.spec import InputObject


def load_text(value: InputObject, task: str) -> str:
    if value.kind != "text":
        raise InvalidInput(f"{task} takes text; got an input of shape {value.kind!r}")
    assert value.text is not None
    return value.text


def load_question(value: InputObject, task: str) -> tuple[str, str]:
    if value.kind != "question" or value.question is None or value.context is None:
        raise InvalidInput(
            f'{task} takes {{"question", "context"}} objects; got an input of shape {value.kind!r}'
        )
    return value.question, value.context
