"""A fixed, varied set of English sentences for the embedding measurements (the same in every run and
for every contender, so that padding and lengths are comparable)."""

from __future__ import annotations

import random

_SUBJECTS = [
    "The old lighthouse keeper",
    "A team of volunteers",
    "My neighbour's cat",
    "The quarterly report",
    "An unexpected storm",
    "The new library",
    "Our delivery driver",
    "A small bakery downtown",
    "The research group",
    "Every morning train",
    "The city council",
    "A curious child",
]
_VERBS = [
    "carefully repaired",
    "quietly ignored",
    "described in detail",
    "found near",
    "celebrated",
    "questioned",
    "moved across",
    "photographed",
    "tried to explain",
    "completely rebuilt",
]
_OBJECTS = [
    "the broken fence",
    "a list of forgotten recipes",
    "the harbour at dawn",
    "the budget for next year",
    "an ancient map of the valley",
    "the noisy printer",
    "a basket of ripe apples",
    "the results of the survey",
    "the bridge over the river",
    "a stack of unread letters",
    "the garden behind the school",
]
_TAILS = [
    "",
    "before anyone noticed",
    "while the rain kept falling",
    "after a long and difficult week",
    "because nobody else would",
    "with surprising patience and a great deal of humour",
    "during the festival",
    "without saying a single word to the others in the room",
]


def sentences(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)]
        out.append(" ".join(p for p in parts if p) + ".")
    return out
