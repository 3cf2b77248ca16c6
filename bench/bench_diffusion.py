"""Image generation: 4 concurrent requests (coalesced into one pipeline call) against the same 4 sent
one after another, in one run.

Each round sends the 4 requests at once and waits for all (batched), then sends them one at a time,
each after the previous answer (sequential); the order of the two alternates between rounds so that a
busy moment on the machine lands on both alike. Figures are medians over rounds. The pipeline is a
random-weight Stable Diffusion built here (``--size small``: the tests' tiny one; ``medium``: UNet
and VAE of 64/128 channels, 64 x 64 images), or a real one with ``--model PATH``.

    .venv/bin/python bench/bench_diffusion.py [--rounds 5] [--steps 4] [--size medium] [--model PATH]

Prints a table and writes bench/results/diffusion.json. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.client import WorkerClient  # noqa: E402

REQUESTS = 4


def build(size: str, folder: Path) -> Path:
    import torch

    from tests.models.diffusion import pipelines

    torch.manual_seed(0)
    if size == "small":
        pipelines.text_to_image(folder)
        return folder
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    words = pipelines.tokenizer()
    unet = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(64, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(64, 128),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )
    StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=pipelines._text_encoder(len(words)),
        tokenizer=words,
        scheduler=DDIMScheduler(steps_offset=1, clip_sample=False, set_alpha_to_one=False),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(folder)
    return folder


def one(client: WorkerClient, handle: str, index: int, steps: int) -> Any:
    parameters = {"num_inference_steps": steps, "seed": index}
    return client.call(
        "model/run", {"handle": handle, "inputs": f"picture {index}", "parameters": parameters}, timeout=600
    )


def batched(client: WorkerClient, handle: str, steps: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(REQUESTS) as pool:
        list(pool.map(lambda i: one(client, handle, i, steps), range(REQUESTS)))
    return time.perf_counter() - started


def sequential(client: WorkerClient, handle: str, steps: int) -> float:
    started = time.perf_counter()
    for index in range(REQUESTS):
        one(client, handle, index, steps)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", choices=("small", "medium"), default="medium")
    parser.add_argument("--model", help="a diffusers pipeline folder instead of a random one")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        folder = Path(args.model) if args.model else build(args.size, Path(work) / "pipeline")
        with WorkerClient(
            ["--threads", str(args.threads)], env={"HF_HUB_OFFLINE": "1"}, stderr=sys.stderr
        ) as client:
            model = client.call("model/load", {"model": str(folder)}, timeout=600)
            handle = model["handle"]
            sequential(client, handle, args.steps)  # warm up both paths
            batched(client, handle, args.steps)
            times: dict[str, list[float]] = {"batched": [], "sequential": []}
            for round_index in range(args.rounds):
                order = ("batched", "sequential") if round_index % 2 == 0 else ("sequential", "batched")
                for name in order:
                    runner = batched if name == "batched" else sequential
                    times[name].append(runner(client, handle, args.steps))
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["sequential"] / medians["batched"]
    lines = [f"{REQUESTS} requests of {args.steps} steps, {args.rounds} rounds, medians:"]
    for name in ("batched", "sequential"):
        lines.append(f"  {name:<11} {medians[name]:7.3f} s  ({REQUESTS / medians[name]:.2f} images/s)")
    lines.append(f"  batched is {ratio:.2f}x as fast as one after another")
    sys.stdout.write("\n".join(lines) + "\n")
    results = {
        "model": args.model or f"random {args.size}",
        "requests": REQUESTS,
        "steps": args.steps,
        "rounds": args.rounds,
        "threads": args.threads,
        "seconds": times,
        "median_seconds": medians,
        "speedup": round(ratio, 3),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load": os.getloadavg()},
    }
    out = ROOT / "bench" / "results" / "diffusion.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
