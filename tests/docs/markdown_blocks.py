"""Fenced code blocks of a markdown file, with their info strings, for tests that execute the docs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    info: str
    body: str
    line: int
    preceding: str  # the text between the previous block and this one

    @property
    def kind(self) -> str:
        return self.info.split(" ", 1)[0]

    @property
    def rest(self) -> str:
        parts = self.info.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    previous_end = 0
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append(Block(m.group("info").strip(), m.group("body"), line, text[previous_end : m.start()]))
        previous_end = m.end()
    return found
