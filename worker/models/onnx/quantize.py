"""onnxruntime's dynamic int8 quantization of a float32 graph: weights stored as int8, activations
quantized per batch at run time (no calibration data needed), the graph's inputs and outputs unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from worker.errors import UnsupportedTask

log = logging.getLogger("worker.models")


def quantize_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    except Exception as exc:  # the quantizer's own failure, in its words
        raise UnsupportedTask(f"the ONNX graph could not be quantized to int8: {exc}") from exc
    log.info("quantized %s to int8 (%d -> %d bytes)", source, source.stat().st_size, target.stat().st_size)
