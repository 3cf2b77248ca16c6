"""bench/suite/speed_report: issue 11's targets read from one run's results, met or not."""

from __future__ import annotations

from bench.suite import speed_report
from bench.suite.report import check_targets, render

COMPUTE = {
    "threads": 2,
    "threads_from": "torch default",
    "interop_threads": 1,
    "omp_wait_policy": "PASSIVE",
    "omp_wait_policy_from": "worker",
    "tokenizers_parallelism": "false",
    "tokenizers_parallelism_from": "worker",
}


def _run() -> dict:
    rates = {
        "worker_default_concurrent_64": 300.0,
        "worker_onnx_concurrent_64": 190.0,
        "onnx_inprocess_batch_32": 200.0,
        "worker_default_sequential": 90.0,
        "onnx_inprocess_batch_1": 100.0,
    }
    return {
        "backends_embeddings": {
            "compute": COMPUTE,
            "sentences_per_second": rates,
            "cosine_to_float32": {"worker_default": 1.0, "worker_onnx": 0.999999},
            "precision": {"worker_default": {"chosen": "float32"}},
            "paired_ratios": {
                "worker_default_concurrent_64/onnx_inprocess_batch_32": 1.5,
                "worker_onnx_concurrent_64/onnx_inprocess_batch_32": 0.94,
                "worker_default_sequential/onnx_inprocess_batch_1": 0.9,
            },
        },
        "contention": {
            "compute": COMPUTE,
            "sentences_per_second": {"worker_busy": 150.0, "onnx_busy": 140.0, "worker_quiet": 300.0},
            "paired_ratios": {"worker_busy/onnx_busy": 1.07, "worker_busy/worker_quiet": 0.5},
        },
    }


def test_each_target_is_met_or_not_by_its_same_round_ratio() -> None:
    met = {t.name: t.met for t in speed_report.check(_run())}
    assert met == {
        "embeddings: worker (default settings) batched vs ONNX Runtime batches of 32": True,
        "embeddings: worker's ONNX Runtime backend vs ONNX Runtime in-process, same file": False,
        "embeddings: worker (default settings) one at a time vs ONNX Runtime one at a time": False,
        "one core busy: worker batched vs ONNX Runtime float32 in-process": True,
        "one core busy: worker batched vs its own quiet throughput": False,
    }


def test_the_printed_run_shows_the_settings_and_the_targets() -> None:
    results = _run()
    results["targets"] = [t.as_dict() for t in check_targets(results)]
    text = render(results)
    assert "OMP_WAIT_POLICY=PASSIVE (worker)" in text and "2 intra-op threads (torch default)" in text
    assert (
        "| one core busy: worker batched vs its own quiet throughput | >= 0.60x "
        "| 0.50x (150 vs 300/s) | NOT met |" in text
    )


def _kernels(**section: object) -> dict:
    """A kernels section as bench/suite/kernels.measure returns it: the run's shapes, then ``section``."""
    return {"threads": 2, "rows": {"batch": 864, "one": 19}, "sentences": 64, "not_measured": {}, **section}


def test_the_kernels_section_prints_torchs_products_against_onnx_runtimes() -> None:
    results = _run()
    results["kernels"] = _kernels(
        compile_seconds=26.4,
        milliseconds={
            "products_torch_batch": 25.0,
            "products_onnx_batch": 20.0,
            "products_torch_one": 1.2,
            "products_onnx_one": 0.5,
            "model_eager": 380.0,
            "model_compiled": 370.0,
        },
        paired_ratios={
            "products_torch_batch/products_onnx_batch": 1.24,
            "products_torch_one/products_onnx_one": 2.4,
            "model_eager/model_compiled": 0.96,
        },
    )
    text = render(results)
    assert (
        "| one layer's six matrix products, 864 token rows (a batch of 32), torch float32 "
        "(what the worker runs) | 25.000 |" in text
    )
    assert "- torch's products take 1.24x ONNX Runtime's time for a batch of 32" in text
    assert "- torch's products take 2.40x ONNX Runtime's time for one sentence" in text
    assert "- torch.compile runs the model 0.96x as fast as eager, after 26 s of compiling" in text


def test_without_a_compiler_the_kernels_section_says_why_compile_was_not_measured() -> None:
    results = _run()
    results["kernels"] = _kernels(
        not_measured={"torch.compile": "no C++ compiler (g++) on this machine"},
        milliseconds={"products_torch_batch": 25.0, "products_onnx_batch": 20.0},
        paired_ratios={"products_torch_batch/products_onnx_batch": 1.25},
    )
    text = render(results)
    assert "- torch.compile not measured: no C++ compiler (g++) on this machine" in text
    assert "torch.compile runs" not in text
