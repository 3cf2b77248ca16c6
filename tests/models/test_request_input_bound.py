"""--max-request-input-bytes: each input is bounded on its own (--max-image-pixels, --max-input-bytes), but
a list of them multiplied that: eight 9000x9000 PNGs of 236 KB each grew the worker by 4 GB while they were
decoded, before any forward pass. Now the decoded inputs of one model/run are counted as they are decoded,
and the request is refused -32008 once they pass the bound; the worker keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.models import media
from tests.models.conftest import running_worker
from worker.client import WorkerCallError, WorkerClient

pytestmark = pytest.mark.models

BOUND = 1_000_000
SIDE = 400  # a 400x400 RGB picture decodes to 480,000 bytes: two fit under the bound, three do not


@pytest.fixture(scope="module")
def small_worker(tmp_path_factory: pytest.TempPathFactory, hf_home: Any) -> Iterator[WorkerClient]:
    log_dir = tmp_path_factory.mktemp("bounded-worker")
    with running_worker(log_dir, hf_home, "--max-request-input-bytes", str(BOUND)) as client:
        yield client


def test_a_list_of_images_past_the_bound_is_refused_once_decoded_past_it(small_worker, model_dir):
    handle = small_worker.call("model/load", {"model": str(model_dir("image-classification"))}, timeout=120)[
        "handle"
    ]
    picture = {"bytes": media.encode_image(media.picture(SIDE, SIDE), "PNG")}
    with pytest.raises(WorkerCallError) as caught:
        small_worker.call("model/run", {"handle": handle, "inputs": [picture] * 8}, timeout=60)
    error = caught.value
    assert error.code == -32008
    assert "--max-request-input-bytes" in error.message and "send them in several calls" in error.message
    # Refused at the third picture: the other five were never decoded.
    figures = {key: error.data[key] for key in ("decoded_bytes", "inputs", "max_request_input_bytes")}
    assert figures == {"decoded_bytes": 3 * SIDE * SIDE * 3, "inputs": 8, "max_request_input_bytes": BOUND}
    within = small_worker.call("model/run", {"handle": handle, "inputs": [picture] * 2}, timeout=60)
    assert len(within) == 2 and all(answer[0]["label"] in ("circle", "square") for answer in within)


def test_texts_count_too_and_the_worker_serves_after_a_refusal(small_worker, model_dir):
    handle = small_worker.call("model/load", {"model": str(model_dir("text-classification"))}, timeout=120)[
        "handle"
    ]
    texts = ["a" * 300_000] * 4  # 1.2 MB of text in one request
    with pytest.raises(WorkerCallError) as caught:
        small_worker.call("model/run", {"handle": handle, "inputs": texts}, timeout=60)
    assert caught.value.code == -32008 and caught.value.data["decoded_bytes"] == 4 * 300_000
    assert small_worker.call("worker/ping", {"still": "serving"}, timeout=10) == {"still": "serving"}
    assert "label" in small_worker.call(
        "model/run", {"handle": handle, "inputs": "short and fine"}, timeout=60
    )
