"""Text generation speed (issue 11, item 4): tokens per second of a GPT-2-small-shaped model (12 layers,
768 wide, 50,257-token vocabulary, random weights: speed does not depend on them), greedy, a fixed
number of new tokens, one prompt at a time; the worker's text-generation against in-process
``generate()``, in float32 and in bfloat16 (explicit dtypes: "auto" keeps generation in float32).

The tokenizer is the uncased BERT WordPiece that the bundled MiniLM ships (GPT-2's own is not on this
machine); ids past its vocabulary decode to nothing, which costs nothing in the loop measured.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.baselines.inprocess import bundled_model_path
from bench.suite.stats import median
from bench.suite.worker_client import BenchWorker

PROMPT = "The old lighthouse keeper carefully repaired the broken fence before anyone noticed"
# GPT-2 small (the "gpt2" checkpoint's config).
GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257}


def build_gpt2_small(folder: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(11)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    config = GPT2Config(
        **GPT2_SMALL,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    GPT2LMHeadModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class _InProcess:
    def __init__(self, folder: Path, dtype: str, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()

    def generate(self, tokens: int) -> int:
        encoded = self.tokenizer(PROMPT, return_tensors="pt")
        with self._torch.inference_mode():
            out = self.model.generate(
                **encoded, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False
            )
        return int(out.shape[1] - encoded["input_ids"].shape[1])


def measure(*, tokens: int, rounds: int) -> dict[str, Any]:
    result: dict[str, Any] = {"model": "gpt2-small-shaped", "new_tokens": tokens, "rounds": rounds}
    with ExitStack() as stack:
        folder = build_gpt2_small(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "gpt2-small")
        worker = stack.enter_context(BenchWorker())
        handles = {
            dtype: worker.call(
                "model/load", {"model": str(folder), "task": "text-generation", "dtype": dtype}
            )["handle"]
            for dtype in ("float32", "bfloat16")
        }
        compute = worker.call("worker/info")["compute"]
        result["compute"] = compute
        threads = int(compute["threads"])
        parameters = {"max_new_tokens": tokens, "min_new_tokens": tokens, "do_sample": False}

        def worker_rate(handle: str) -> Callable[[], float]:
            def rate() -> float:
                start = time.perf_counter()
                worker.call("model/run", {"handle": handle, "inputs": PROMPT, "parameters": parameters})
                return tokens / (time.perf_counter() - start)

            return rate

        def inprocess_rate(model: _InProcess) -> Callable[[], float]:
            def rate() -> float:
                start = time.perf_counter()
                made = model.generate(tokens)
                return made / (time.perf_counter() - start)

            return rate

        contenders: dict[str, Callable[[], float]] = {}
        for dtype in ("float32", "bfloat16"):
            contenders[f"worker_{dtype}"] = worker_rate(handles[dtype])
            contenders[f"inprocess_{dtype}"] = inprocess_rate(_InProcess(folder, dtype, threads))
        for run in contenders.values():  # warm-up
            run()
        rates: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, run in contenders.items():
                rates[name].append(run())
        result["tokens_per_second"] = {name: round(median(v), 2) for name, v in rates.items()}
        result["paired_ratios"] = {
            f"worker_{d}/inprocess_{d}": round(
                median([x / y for x, y in zip(rates[f"worker_{d}"], rates[f"inprocess_{d}"], strict=True)]), 3
            )
            for d in ("float32", "bfloat16")
        }
    return result
