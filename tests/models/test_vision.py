"""Images through the real worker: image-classification, object-detection,
zero-shot-image-classification, image-to-text, and a task with no class of its own
(image-feature-extraction) through the generic pipeline path. Pictures drawn with pillow, passed
by path, as png / jpeg / webp bytes and as a kept tensor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models import media

pytestmark = pytest.mark.models


def run(worker: Any, handle: str, inputs: Any, **parameters: Any) -> Any:
    return worker.call(
        "model/run", {"handle": handle, "inputs": inputs, "parameters": parameters}, timeout=60
    )


@pytest.fixture(scope="module")
def picture_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "shapes.png"
    media.picture().save(path)  # type: ignore[attr-defined]
    return path


def test_image_classification_reads_paths_and_every_encoding(worker, load, picture_file):
    model = load("image-classification")
    assert model["task"] == "image-classification"  # ViTForImageClassification
    by_path = run(worker, model["handle"], {"path": str(picture_file)})
    assert sorted(r["label"] for r in by_path) == ["circle", "square"]
    assert sum(r["score"] for r in by_path) == pytest.approx(1.0, abs=1e-5)
    scores = {r["label"]: r["score"] for r in by_path}

    image = media.picture()
    lossless = [{"bytes": media.encode_image(image, "PNG")}, {"bytes": media.encode_image(image, "WEBP")}]
    # WebP defaults to lossy in pillow; PNG is lossless: same pixels, same scores as the file.
    png, webp = run(worker, model["handle"], lossless)
    assert {r["label"]: r["score"] for r in png} == pytest.approx(scores, abs=1e-6)
    assert sorted(r["label"] for r in webp) == ["circle", "square"]
    jpeg = run(worker, model["handle"], {"bytes": media.encode_image(image, "JPEG")}, top_k=1)
    assert len(jpeg) == 1

    pixels = np.asarray(image, dtype=np.uint8)
    kept = worker.call(
        "tensor/put", {"data": pixels.tobytes(), "dtype": "uint8", "shape": list(pixels.shape)}
    )
    by_tensor = run(worker, model["handle"], {"tensor": kept["handle"]})
    assert {r["label"]: r["score"] for r in by_tensor} == pytest.approx(scores, abs=1e-6)


def test_object_detection_returns_labelled_boxes_inside_the_image(worker, load, picture_file):
    model = load("object-detection")
    assert model["task"] == "object-detection"  # YolosForObjectDetection
    boxes = run(worker, model["handle"], {"path": str(picture_file)}, threshold=0.0)
    assert len(boxes) == 5  # one per detection token (threshold 0 keeps them all)
    width, height = media.picture().size  # type: ignore[attr-defined]
    for found in boxes:
        assert found["label"] in {"square", "circle"} and 0.0 <= found["score"] <= 1.0
        box = found["box"]
        assert set(box) == {"xmin", "ymin", "xmax", "ymax"}
        assert 0 <= box["xmin"] <= box["xmax"] <= width and 0 <= box["ymin"] <= box["ymax"] <= height
    assert run(worker, model["handle"], {"path": str(picture_file)}, threshold=1.0) == []


def test_zero_shot_image_classification_ranks_the_candidate_labels(worker, load, picture_file):
    model = load("zero-shot-image-classification")
    assert model["task"] == "zero-shot-image-classification"  # CLIPModel
    labels = ["a red square", "a blue circle", "a cat"]
    ranked = run(worker, model["handle"], {"path": str(picture_file)}, candidate_labels=labels)
    assert sorted(r["label"] for r in ranked) == sorted(labels)
    assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-5)
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)


def test_image_to_text_captions_an_image(worker, load, picture_file):
    model = load("image-to-text")
    assert model["task"] == "image-to-text"  # VisionEncoderDecoderModel
    caption = run(worker, model["handle"], {"path": str(picture_file)}, max_new_tokens=6, min_new_tokens=6)
    assert list(caption[0]) == ["generated_text"] and len(caption[0]["generated_text"]) > 0
    again = run(
        worker, model["handle"], {"bytes": picture_file.read_bytes()}, max_new_tokens=6, min_new_tokens=6
    )
    assert again == caption  # greedy decoding of the same pixels
    pieces: list[dict[str, Any]] = []
    streamed = worker.call(
        "model/run",
        {
            "handle": model["handle"],
            "inputs": {"path": str(picture_file)},
            "parameters": {"max_new_tokens": 6, "min_new_tokens": 6},
        },
        on_progress=pieces.append,
        timeout=60,
    )
    assert "".join(p["text"] for p in pieces).strip() == streamed[0]["generated_text"]


def test_other_pipeline_tasks_go_through_the_generic_path(worker, load, picture_file):
    model = load("image-features", task="image-feature-extraction")
    assert model["task"] == "image-feature-extraction"
    features = np.asarray(run(worker, model["handle"], {"path": str(picture_file)}))
    # ViT: [CLS] + (32 / 8)^2 patches, hidden size 32, as the pipeline returns them.
    assert features.shape == (1, 17, 32)
    pooled = np.asarray(run(worker, model["handle"], {"path": str(picture_file)}, pool=True))
    assert pooled.shape == (1, 32)
