"""Image generation through the real worker on tiny random-weight pipelines: text-to-image,
image-to-image and inpainting results, seeds, progress and previews, cancellation, coalescing of
concurrent requests, kept images fed to other image tasks, and the bounds."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from worker.client import WorkerCallError

pytestmark = pytest.mark.models

FAST = {"num_inference_steps": 2}


def run(
    worker: Any, handle: str, inputs: Any, on_progress: Any = None, keep: bool = False, **parameters: Any
) -> Any:
    params = {"handle": handle, "inputs": inputs, "parameters": parameters, "keep": keep}
    return worker.call("model/run", params, on_progress=on_progress, timeout=300)


def decoded(entry: dict[str, Any]) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(entry["image"])) as image:
        image.load()
        assert image.format.lower() == entry["format"]
        assert image.size == (entry["width"], entry["height"])
        return image.convert("RGB")


def error_of(worker: Any, handle: str, inputs: Any, **parameters: Any) -> Any:
    with pytest.raises(WorkerCallError) as caught:
        run(worker, handle, inputs, **parameters)
    return caught.value


def test_a_pipeline_folder_loads_as_text_to_image(load_pipeline):
    model = load_pipeline("text-to-image")
    assert model["task"] == "text-to-image"
    assert model["dtype"] == "float32" and model["parameters"] > 0 and model["memory_bytes"] > 0
    assert load_pipeline("inpainting")["task"] == "inpainting"  # told from StableDiffusionInpaintPipeline


def test_text_to_image_returns_an_image_of_the_asked_size_with_its_seed(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    [image] = run(worker, handle, "a red square", seed=7, **FAST)
    assert image["format"] == "png" and image["seed"] == 7
    assert decoded(image).size == (32, 32)  # the model's default size

    batch = run(
        worker, handle, ["a red square", "a blue circle"], width=48, height=24, num_images=2, seed=3, **FAST
    )
    assert [len(images) for images in batch] == [2, 2]
    assert [image["seed"] for images in batch for image in images] == [3, 4, 5, 6]
    assert all(decoded(image).size == (48, 24) for images in batch for image in images)

    for image_format in ("jpeg", "webp"):
        [image] = run(worker, handle, "a red square", format=image_format, **FAST)
        assert decoded(image).size == (32, 32)


def test_the_same_seed_gives_the_same_image_and_a_drawn_seed_is_returned(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    first = run(worker, handle, "a lighthouse", seed=11, **FAST)[0]
    again = run(worker, handle, "a lighthouse", seed=11, **FAST)[0]
    other = run(worker, handle, "a lighthouse", seed=12, **FAST)[0]
    assert first["image"] == again["image"]
    assert first["image"] != other["image"]

    drawn = run(worker, handle, "a lighthouse", **FAST)[0]
    assert isinstance(drawn["seed"], int) and 0 <= drawn["seed"] < 2**53
    assert run(worker, handle, "a lighthouse", seed=drawn["seed"], **FAST)[0]["image"] == drawn["image"]


def test_progress_reports_every_step_and_previews_every_k(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    reports: list[dict[str, Any]] = []
    run(
        worker,
        handle,
        "a red square",
        on_progress=reports.append,
        num_inference_steps=5,
        preview_every=2,
        seed=1,
    )
    assert [r["step"] for r in reports] == [1, 2, 3, 4, 5]
    assert all(r["steps"] == 5 and r["batch_images"] == 1 for r in reports)
    with_preview = [r["step"] for r in reports if "preview" in r]
    assert with_preview == [2, 4, 5]  # every second step, and the last
    from PIL import Image

    preview = next(r for r in reports if "preview" in r)
    with Image.open(io.BytesIO(preview["preview"])) as image:
        assert image.format == "PNG" and image.size == (preview["width"], preview["height"]) == (16, 16)


def test_a_cancelled_generation_stops_within_a_step_and_makes_no_image(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    steps: list[int] = []
    running = threading.Event()

    def collect(value: dict[str, Any]) -> None:
        steps.append(value["step"])
        if len(steps) >= 3:
            running.set()

    call = worker.send(
        "model/run",
        {"handle": handle, "inputs": "a red square", "parameters": {"num_inference_steps": 500, "seed": 1}},
        on_progress=collect,
    )
    assert running.wait(120)
    cancelled_at = time.monotonic()
    worker.cancel(call)
    with pytest.raises(WorkerCallError) as caught:
        worker.result(call, timeout=10)
    assert caught.value.code == -32800
    # The handler ends promptly: the pipeline stopped at the next step instead of running on unobserved.
    while worker.call("worker/info", timeout=10)["running_handlers"] > 0:
        assert time.monotonic() - cancelled_at < 10.0, "the pipeline kept running after $/cancelRequest"
        time.sleep(0.01)
    assert len(steps) < 500
    assert len(run(worker, handle, "after the cancel", **FAST)) == 1  # the worker keeps serving


def test_image_to_image_and_inpainting_refine_an_image(worker, load_pipeline):
    from tests.models.media import encode_image, picture

    source = encode_image(picture(40, 24), "PNG")
    mask = encode_image(picture(40, 24).convert("L"), "PNG")  # type: ignore[attr-defined]
    to_image = load_pipeline("text-to-image", task="image-to-image")
    assert to_image["task"] == "image-to-image"
    [image] = run(
        worker, to_image["handle"], {"bytes": source}, prompt="at night", strength=0.5, seed=2, **FAST
    )
    assert decoded(image).size == (40, 24) and image["seed"] == 2
    [resized] = run(worker, to_image["handle"], {"bytes": source}, prompt="x", width=32, height=32, **FAST)
    assert decoded(resized).size == (32, 32)

    inpaint = load_pipeline("inpainting")["handle"]
    [filled] = run(worker, inpaint, {"bytes": source}, prompt="a door", mask={"bytes": mask}, **FAST)
    assert decoded(filled).size == (40, 24)
    assert error_of(worker, inpaint, {"bytes": source}, prompt="a door").code == -32602  # no mask
    assert error_of(worker, to_image["handle"], "a prompt as the input").code == -32006


def test_a_kept_image_is_classified_and_refined_without_leaving_the_worker(worker, load_pipeline, load):
    handle = load_pipeline("text-to-image")["handle"]
    [kept] = run(worker, handle, "a red square", keep=True, seed=5, **FAST)
    assert kept["seed"] == 5 and (kept["width"], kept["height"]) == (32, 32)
    tensor = kept["tensor"]
    assert tensor["dtype"] == "uint8" and tensor["shape"] == [32, 32, 3] and tensor["nbytes"] == 32 * 32 * 3
    # The kept pixels are the image's: the same seed's PNG decodes to the same array.
    import numpy as np

    pixels = worker.call("tensor/get", {"handle": tensor["handle"]})
    png = np.asarray(decoded(run(worker, handle, "a red square", seed=5, **FAST)[0]))
    assert bytes(pixels["data"]) == png.tobytes()

    labels = worker.call(
        "model/run",
        {"handle": load("image-classification")["handle"], "inputs": {"tensor": tensor["handle"]}},
    )
    assert {entry["label"] for entry in labels} == {"square", "circle"}
    refine = load_pipeline("text-to-image", task="image-to-image")["handle"]
    [refined] = run(worker, refine, {"tensor": tensor["handle"]}, prompt="blue", strength=0.6, **FAST)
    assert decoded(refined).size == (32, 32)


def test_concurrent_same_shape_requests_are_coalesced_and_each_gets_its_own_images(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    batch_sizes: list[list[int]] = [[] for _ in range(4)]

    def one(index: int) -> Any:
        return run(
            worker,
            handle,
            f"picture {index}",
            on_progress=lambda v: batch_sizes[index].append(v["batch_images"]),
            seed=100 * index,
            num_inference_steps=3,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert [r[0]["seed"] for r in results] == [0, 100, 200, 300]
    assert len({r[0]["image"] for r in results}) == 4
    # Sent at once, they cannot all have run alone: the first waits 50 ms for company, and the
    # others gather while a call runs.
    assert max(max(sizes) for sizes in batch_sizes) >= 2


def test_bounds_are_refused_before_anything_runs(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    too_many = error_of(worker, handle, "x", width=16384, height=16384, **FAST)  # 268 M pixels
    assert too_many.code == -32008 and too_many.data["max_image_pixels"] == 100_000_000
    for bad in (
        {"width": 30},
        {"num_inference_steps": 0},
        {"num_images": 9},
        {"scheduler": "fast"},
        {"strength": 0.5},
        {"prompt": "x"},
        {"guidance_scale": -1},
        {"colour": "red"},
        # Image k is seeded seed + k: the last image's seed, returned to the client, must stay a
        # signed 64-bit number (the C# host reads it as a long).
        {"seed": 2**63 - 1, "num_images": 2},
    ):
        assert error_of(worker, handle, "x", **bad).code == -32602, bad
    assert "euler_ancestral" in error_of(worker, handle, "x", scheduler="fast").message
    assert error_of(worker, handle, ["x"] * 5, num_images=2).code == -32602  # 10 images in one request
    assert error_of(worker, handle, {"bytes": b"png?"}).code == -32006  # text-to-image takes text


def test_a_scheduler_is_chosen_by_name(worker, load_pipeline):
    handle = load_pipeline("text-to-image")["handle"]
    reports: list[dict[str, Any]] = []
    [image] = run(worker, handle, "x", on_progress=reports.append, scheduler="euler", seed=1, **FAST)
    assert decoded(image).size == (32, 32) and len(reports) == 2
    assert run(worker, handle, "x", scheduler="dpm++", seed=1, **FAST)[0]["image"] != image["image"]


def test_lcm_takes_no_more_steps_than_it_was_distilled_with(worker, load_pipeline):
    # LCM samples a subset of its 50 distilled steps: more was diffusers' ValueError half-way (-32000).
    text = load_pipeline("text-to-image")["handle"]
    refused = error_of(worker, text, "x", scheduler="lcm", num_inference_steps=51)
    assert refused.code == -32602 and "at most 50" in refused.message, refused.message
    # Stable Diffusion's image-to-image does not hand the scheduler its strength: 30 steps at 0.5 run.
    refine = load_pipeline("text-to-image", task="image-to-image")["handle"]
    picture = {"bytes": run(worker, text, "x", seed=1, **FAST)[0]["image"]}
    [image] = run(worker, refine, picture, scheduler="lcm", strength=0.5, num_inference_steps=30)
    assert decoded(image).size == (32, 32)
    assert error_of(worker, refine, picture, scheduler="lcm", num_inference_steps=51).code == -32602


def test_working_memory_past_what_is_available_is_refused(tmp_path_factory, hf_home, pipeline_dir):
    from tests.models.conftest import running_worker

    with running_worker(
        tmp_path_factory.mktemp("log"), hf_home, "--max-image-pixels", "1000000000"
    ) as client:
        handle = client.call("model/load", {"model": str(pipeline_dir("text-to-image"))}, timeout=300)[
            "handle"
        ]
        # 16384 x 8192 needs hundreds of GB for the VAE decode alone: refused before any allocation.
        refused = error_of(client, handle, "x", width=16384, height=8192, **FAST)
        assert refused.code == -32008
        assert refused.data["estimated_bytes"] > refused.data["available_bytes"]
        assert len(run(client, handle, "x", **FAST)) == 1


def _load_error(worker: Any, folder: Any, **params: Any) -> Any:
    with pytest.raises(WorkerCallError) as caught:
        worker.call("model/load", {"model": str(folder), **params}, timeout=300)
    return caught.value


def test_a_pipeline_that_needs_its_own_code_is_refused_and_none_of_it_runs(worker, pipeline_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "custom"
    shutil.copytree(pipeline_dir("text-to-image"), folder)
    marker = tmp_path / "imported"
    # Code a folder can carry: a component module and a pipeline module that leave a mark when imported.
    for name in ("my_unet.py", "my_pipeline.py"):
        (folder / name).write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))

    def with_index(**changes: Any) -> Any:
        (folder / "model_index.json").write_text(json.dumps({**index, **changes}), encoding="utf-8")
        return folder

    for changed in (
        with_index(unet=["my_unet", "MyUNet"]),  # a component from a module in the folder
        with_index(_class_name="MyPipeline"),  # not a diffusers class
        with_index(_class_name=["my_pipeline", "MyPipeline"]),
    ):
        refused = _load_error(worker, changed)
        assert refused.code == -32007 and "--trust-remote-code" in refused.message
    refused = _load_error(worker, with_index(), options={"custom_pipeline": str(folder / "my_pipeline.py")})
    assert refused.code == -32007 and "custom_pipeline" in refused.message
    assert not marker.exists()


def test_options_cannot_replace_or_drop_a_pipeline_component(worker, pipeline_dir):
    # Components are objects made from the folder; a null through options left the pipeline without its
    # UNet, and every run of it was answered -32000 AttributeError.
    for component in ("unet", "vae", "scheduler"):
        refused = _load_error(worker, pipeline_dir("text-to-image"), options={component: None})
        assert refused.code == -32602 and component in refused.message
