"""Issue 11's targets and tables: the worker's backends against ONNX Runtime in-process (``backends``),
under one busy core (``contention``), and text generation (``generation``). Every ratio is a median of
same-round ratios from one run."""

from __future__ import annotations

from typing import Any

from bench.suite.backends import PAIRS

BACKEND_LABELS = {
    "worker_default_concurrent_64": "worker, default settings, 64 concurrent requests",
    "worker_default_sequential": "worker, default settings, one request at a time",
    "worker_float32_concurrent_64": "worker, float32 forced, 64 concurrent",
    "worker_float32_sequential": "worker, float32 forced, one at a time",
    "worker_onnx_concurrent_64": "worker, ONNX Runtime backend, 64 concurrent",
    "worker_onnx_sequential": "worker, ONNX Runtime backend, one at a time",
    "worker_onnx_int8_concurrent_64": "worker, ONNX Runtime backend int8, 64 concurrent",
    "worker_onnx_int8_sequential": "worker, ONNX Runtime backend int8, one at a time",
    "inprocess_batch_32": "in-process torch float32, batches of 32",
    "inprocess_batch_1": "in-process torch float32, one at a time",
    "onnx_inprocess_batch_32": "ONNX Runtime in-process float32 (same graph file), batches of 32",
    "onnx_inprocess_batch_1": "ONNX Runtime in-process float32, one at a time",
    "onnx_int8_inprocess_batch_32": "ONNX Runtime in-process int8 (same graph file), batches of 32",
    "onnx_int8_inprocess_batch_1": "ONNX Runtime in-process int8, one at a time",
}
CONTENTION_LABELS = {
    "worker_quiet": "worker, default settings, quiet machine",
    "worker_busy": "worker, default settings, one core busy",
    "onnx_quiet": "ONNX Runtime in-process float32, quiet machine",
    "onnx_busy": "ONNX Runtime in-process float32, one core busy",
    "worker_spinning_busy": "worker with OMP_WAIT_POLICY=ACTIVE, one core busy",
}
_COSINE_KEY = {
    "worker_default": "worker_default",
    "worker_float32": "worker_float32",
    "worker_onnx_int8": "worker_onnx_int8",
    "worker_onnx": "worker_onnx",
    "onnx_int8_inprocess": "onnx_int8_inprocess",
    "onnx_inprocess": "onnx_inprocess",
}
_TARGET_NAMES = {
    (
        "worker_default_concurrent_64",
        "onnx_inprocess_batch_32",
    ): "worker (default settings) batched vs ONNX Runtime batches of 32",
    (
        "worker_onnx_concurrent_64",
        "onnx_inprocess_batch_32",
    ): "worker's ONNX Runtime backend vs ONNX Runtime in-process, same file",
    (
        "worker_onnx_int8_concurrent_64",
        "onnx_int8_inprocess_batch_32",
    ): "worker's ONNX Runtime int8 vs ONNX Runtime int8 in-process, same file",
    (
        "worker_default_sequential",
        "onnx_inprocess_batch_1",
    ): "worker (default settings) one at a time vs ONNX Runtime one at a time",
}


class SpeedTarget:
    def __init__(self, name: str, wanted: str, measured: str, met: bool | None) -> None:
        self.name, self.wanted, self.measured, self.met = name, wanted, measured, met

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "wanted": self.wanted,
            "measured": self.measured,
            "met": self.met,
            "note": "",
        }


def check(results: dict[str, Any]) -> list[SpeedTarget]:
    targets: list[SpeedTarget] = []
    for section, model in (("backends_embeddings", "embeddings"), ("backends_classifier", "classifier")):
        found = results.get(section) or {}
        paired, rates = found.get("paired_ratios") or {}, found.get("sentences_per_second") or {}
        for a, b, wanted in PAIRS:
            ratio = paired.get(f"{a}/{b}")
            if wanted is None or ratio is None:
                continue
            targets.append(
                SpeedTarget(
                    f"{model}: {_TARGET_NAMES[(a, b)]}",
                    f">= {wanted:.2f}x",
                    f"{ratio:.2f}x ({rates[a]:.0f} vs {rates[b]:.0f}/s)",
                    ratio >= wanted,
                )
            )
    busy = results.get("contention") or {}
    paired, rates = busy.get("paired_ratios") or {}, busy.get("sentences_per_second") or {}
    for key, wanted, name in (
        ("worker_busy/onnx_busy", 1.0, "one core busy: worker batched vs ONNX Runtime float32 in-process"),
        ("worker_busy/worker_quiet", 0.6, "one core busy: worker batched vs its own quiet throughput"),
    ):
        ratio = paired.get(key)
        if ratio is not None:
            a, b = key.split("/")
            targets.append(
                SpeedTarget(
                    name,
                    f">= {wanted:.2f}x",
                    f"{ratio:.2f}x ({rates[a]:.0f} vs {rates[b]:.0f}/s)",
                    ratio >= wanted,
                )
            )
    return targets


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _settings(compute: dict[str, Any] | None) -> str:
    if not compute:
        return "settings not reported"
    return (
        f"{compute.get('threads')} intra-op threads ({compute.get('threads_from')}), "
        f"{compute.get('interop_threads')} inter-op, OMP_WAIT_POLICY={compute.get('omp_wait_policy')} "
        f"({compute.get('omp_wait_policy_from')}), "
        f"TOKENIZERS_PARALLELISM={compute.get('tokenizers_parallelism')}"
    )


def _cosine_for(contender: str, cosines: dict[str, float]) -> str:
    for prefix, key in _COSINE_KEY.items():
        if contender.startswith(prefix + "_") and key in cosines:
            return f"{cosines[key]:.6f}"
    return "1 (reference)" if contender.startswith("inprocess") else ""


def render(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for section, title in (
        ("backends_embeddings", "all-MiniLM-L6-v2 sentence embeddings: backends"),
        ("backends_classifier", "distilbert-base-shaped classifier (random weights): backends"),
    ):
        found = results.get(section) or {}
        rates = found.get("sentences_per_second") or {}
        if not rates:
            continue
        cosines = found.get("cosine_to_float32") or {}
        base = rates.get("onnx_inprocess_batch_32")
        rows = [
            [label, f"{rates[k]:.0f}", f"{rates[k] / base:.2f}x" if base else "", _cosine_for(k, cosines)]
            for k, label in BACKEND_LABELS.items()
            if k in rates
        ]
        precision = {k: (v or {}).get("chosen") for k, v in (found.get("precision") or {}).items()}
        out += [
            f"{title} (worker: {_settings(found.get('compute'))}; "
            f"dtype auto chose {precision.get('worker_default')})",
            "",
            *_table(
                ["how", "sentences/s", "vs ONNX Runtime batches of 32", "cosine to float32 (worst)"], rows
            ),
            "",
        ]
        for name, reason in (found.get("not_measured") or {}).items():
            out.append(f"- {name} not measured: {reason}")
        out += [""] if found.get("not_measured") else []
    busy = results.get("contention") or {}
    rates = busy.get("sentences_per_second") or {}
    if rates:
        rows = [[label, f"{rates[k]:.0f}"] for k, label in CONTENTION_LABELS.items() if k in rates]
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in (busy.get("paired_ratios") or {}).items())
        out += [
            f"One core kept busy by another process: batched all-MiniLM-L6-v2 embeddings "
            f"(worker: {_settings(busy.get('compute'))})",
            "",
            *_table(["how", "sentences/s"], rows),
            "",
            f"Same-round ratios: {ratios}",
            "",
        ]
    out += _render_kernels(results.get("kernels") or {})
    generation = results.get("generation") or {}
    tokens = generation.get("tokens_per_second") or {}
    if tokens:
        rows = [
            [f"{who}, {dtype}", f"{tokens[f'{key}_{dtype}']:.1f}"]
            for dtype in ("float32", "bfloat16")
            for key, who in (("worker", "worker"), ("inprocess", "in-process generate()"))
            if f"{key}_{dtype}" in tokens
        ]
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in (generation.get("paired_ratios") or {}).items())
        out += [
            f"GPT-2-small-shaped text generation, {generation['new_tokens']} new tokens, greedy, "
            "one prompt at a time "
            f"(worker: {_settings(generation.get('compute'))})",
            "",
            *_table(["how", "tokens/s"], rows),
            "",
            f"Same-round ratios: {ratios}",
            "",
        ]
    return out


def _render_kernels(found: dict[str, Any]) -> list[str]:
    times = found.get("milliseconds") or {}
    if not times:
        return []
    ratios = found.get("paired_ratios") or {}
    rows = found["rows"]
    labels = {
        "products_torch_batch": f"one layer's six matrix products, {rows['batch']} token rows "
        "(a batch of 32), torch float32 (what the worker runs)",
        "products_onnx_batch": "the same products, ONNX Runtime float32",
        "products_torch_one": f"the same six products, {rows['one']} token rows (one sentence), "
        "torch float32",
        "products_onnx_one": "the same products, ONNX Runtime float32",
        "model_eager": f"the whole model over {found['sentences']} sentences in batches of 32, torch eager",
        "model_compiled": "the same, torch.compile (inductor, frozen weights)",
    }
    table = [[label, f"{times[k]:.3f}"] for k, label in labels.items() if k in times]
    out = [
        f"torch's float32 kernels on this CPU ({found['threads']} threads, idle threads sleeping)",
        "",
        *_table(["what", "ms"], table),
        "",
    ]
    for shape, words in (("batch", "a batch of 32"), ("one", "one sentence")):
        ratio = ratios.get(f"products_torch_{shape}/products_onnx_{shape}")
        if ratio is not None:
            out.append(f"- torch's products take {ratio:.2f}x ONNX Runtime's time for {words}")
    if "model_eager/model_compiled" in ratios:
        out.append(
            f"- torch.compile runs the model {ratios['model_eager/model_compiled']:.2f}x as fast as eager, "
            f"after {found['compile_seconds']:.0f} s of compiling"
        )
    for name, reason in (found.get("not_measured") or {}).items():
        out.append(f"- {name} not measured: {reason}")
    return out + [""]
